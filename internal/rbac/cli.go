package rbac

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

// RunCLI carries out "adfscim plan" (a dry run) or "adfscim reconcile" and
// writes the outcome to out: indented JSON for scripts, or, when tty says
// out is a terminal (the command layer decides), a progress bar and a short
// summary.
func RunCLI(ctx context.Context, r *Reconciler, command string, out io.Writer, tty bool) error {
	switch command {
	case "plan":
		p, err := r.Plan(ctx)
		if err != nil {
			return err
		}
		if !tty {
			return writeJSON(out, p)
		}
		writePlanSummary(out, p)
		return nil
	case "reconcile":
		var progress func(done, total int)
		if tty {
			progress = progressBar(out)
		}
		rep, err := r.Reconcile(ctx, progress)
		if err != nil {
			return err
		}
		if !tty {
			return writeJSON(out, rep)
		}
		if len(rep.Results) > 0 {
			fmt.Fprintln(out)
		}
		writePlanSummary(out, rep.Plan)
		fmt.Fprintf(out, "applied: %d created, %d deleted, %d failed\n", rep.Created, rep.Deleted, rep.Failed)
		for _, res := range rep.Results {
			if res.Error != "" {
				fmt.Fprintf(out, "  failed %s %s on %s: %s\n", res.Op, res.Assignment.PrincipalID, res.Assignment.Scope, res.Error)
			}
		}
		if rep.Failed > 0 {
			return fmt.Errorf("rbac: %d changes failed", rep.Failed)
		}
		return nil
	}
	return fmt.Errorf("rbac: unknown command %q (plan or reconcile)", command)
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writePlanSummary(out io.Writer, p Plan) {
	fmt.Fprintf(out, "desired %d, unchanged %d, to create %d, to renew %d, to delete %d, held by the budget %d, drift %d, unresolved users %d\n",
		p.Desired, p.Unchanged, len(p.Creates), len(p.Renewals), len(p.Deletes), len(p.Held), len(p.Drift), len(p.Unresolved))
	for _, b := range p.Budget {
		mark := " "
		if b.Over() || b.Error != "" {
			mark = "!"
		}
		fmt.Fprintf(out, "  %s budget: %s\n", mark, b)
	}
	for _, a := range p.Creates {
		fmt.Fprintf(out, "  + %s %s role %s on %s (%s)\n", a.PrincipalType, a.PrincipalID, a.RoleID, a.Scope, KindText(a))
	}
	for _, a := range p.Renewals {
		fmt.Fprintf(out, "  ~ %s %s role %s on %s (%s)\n", a.PrincipalType, a.PrincipalID, a.RoleID, a.Scope, KindText(a))
	}
	for _, a := range p.Deletes {
		fmt.Fprintf(out, "  - %s %s role %s on %s (%s)\n", a.PrincipalType, a.PrincipalID, a.RoleID, a.Scope, KindText(a))
	}
	for _, a := range p.Held {
		fmt.Fprintf(out, "  = held: %s %s role %s on %s (%s)\n", a.PrincipalType, a.PrincipalID, a.RoleID, a.Scope, KindText(a))
	}
	for _, d := range p.Drift {
		fmt.Fprintf(out, "  ! not ours: %s %s role %s on %s (%s, %q)\n", d.PrincipalType, d.PrincipalID, d.RoleID, d.Scope, KindText(d.Assignment), d.Description)
	}
	for _, u := range p.Unresolved {
		fmt.Fprintf(out, "  ? %s (%s): %s\n", u.UserName, u.UserID, u.Reason)
	}
	for _, s := range p.Problems {
		fmt.Fprintf(out, "  ! %s\n", s)
	}
}

// progressBar returns a progress callback drawing "[####    ] done/total".
func progressBar(out io.Writer) func(done, total int) {
	var mu sync.Mutex
	last := -1
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		const width = 40
		filled := width * done / max(total, 1)
		if filled == last && done != total {
			return
		}
		last = filled
		fmt.Fprintf(out, "\r[%s%s] %d/%d", strings.Repeat("#", filled), strings.Repeat(" ", width-filled), done, total)
	}
}
