package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func writeJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeTable prints the report for humans.
func writeTable(w io.Writer, rep *Report) error {
	s := rep.Settings
	fmt.Fprintf(w, "adfscim load: %s (spawned: %v)\n", s.Target, s.Spawned)
	fmt.Fprintf(w, "N=%d users, G=%d groups x M=%d members (PATCH batches of %d), C=%d connections, %.1fs per phase, seed %d, trivial handler %s\n",
		s.Users, s.Groups, s.Members, s.MemberBatch, s.Connections, s.Seconds, s.Seed, s.Trivial)
	m := rep.Machine
	fmt.Fprintf(w, "%d CPUs, %s, load average before %s, after %s\n\n", m.CPUs, m.GoVersion, m.LoadBefore, m.LoadAfter)

	if p := rep.Provision; p != nil {
		fmt.Fprintf(w, "provisioning (GET filter, then POST; groups: GET filter, POST, PATCH add members)\n")
		if p.UsersRan {
			fmt.Fprintf(w, "  users   %7d in %7.1fs  %8.0f users/s    (%d already there)\n", p.Users, p.UsersSeconds, p.UsersPerSecond, p.UsersExisting)
		}
		if p.GroupsRan {
			fmt.Fprintf(w, "  groups  %7d in %7.1fs  %8.0f members/s  (%d PATCHes adding %d members; %d groups already there)\n",
				p.Groups, p.GroupsSeconds, p.MembersPerSecond, p.MemberPatches, p.Members, p.GroupsExisting)
		}
		fmt.Fprintf(w, "  %d requests, %d errors\n", p.Requests, p.Errors)
		if p.FirstError != "" {
			fmt.Fprintf(w, "  first error: %s\n", p.FirstError)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Phases) > 0 || rep.Trivial != nil {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "phase\trequests\terrors\treq/s\tp50 ms\tp99 ms\tmax ms\treq/s vs trivial\tp50 x trivial\tp99 x trivial\t")
		rows := derefPhase(rep.Trivial)
		rows = append(rows, derefPhase(rep.TrivialOther)...)
		rows = append(rows, rep.Phases...)
		for _, p := range rows {
			ratio := func(v float64, pct bool) string {
				switch {
				case strings.HasPrefix(p.Name, "trivial"):
					return "-"
				case v == 0:
					return "n/a"
				case pct:
					return fmt.Sprintf("%.1f %%", 100*v)
				}
				return fmt.Sprintf("%.2f", v)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%s\t\n", p.Name, p.Requests, p.Errors, p.RPS, p.P50Ms, p.P99Ms, p.MaxMs,
				ratio(p.RPSRatio, true), ratio(p.P50Ratio, false), ratio(p.P99Ratio, false))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if d := rep.Disk; d != nil {
			fmt.Fprintf(w, "disk ceiling in %s: %.0f serial 4 KiB writes+fdatasync/s (p50 %.3f ms, p99 %.3f ms; other run %.0f/s)\n",
				d.Dir, d.PerSecond, d.P50Ms, d.P99Ms, d.OtherRunPS)
			for _, p := range rep.Phases {
				if p.DiskRatio > 0 {
					fmt.Fprintf(w, "  %s: %.2fx the disk's serial durable-write rate\n", p.Name, p.DiskRatio)
				}
			}
		}
		for _, p := range rows {
			if p.FirstError != "" {
				fmt.Fprintf(w, "  %s first error: %s\n", p.Name, p.FirstError)
			}
			if p.Profile != "" {
				fmt.Fprintf(w, "  %s CPU profile: %s\n", p.Name, p.Profile)
			}
		}
		fmt.Fprintln(w)
	}
	for _, when := range []string{"provision", "measurements"} {
		mem, ok := rep.Memory[when]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "memory after %-12s RssAnon %7.1f MiB  VmRSS %7.1f MiB  VmHWM %7.1f MiB  store file %7.1f MiB\n", when+":",
			float64(mem.RssAnonKB)/1024, float64(mem.VmRSSKB)/1024, float64(mem.VmHWMKB)/1024, float64(mem.StoreBytes)/(1<<20))
	}
	_, err := fmt.Fprintln(w)
	return err
}
