package azuritetest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// process is one running Azurite service: the process group, killed by
// Stop, and the channel closed when it has exited.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// launch starts bin with args in a fresh working directory and waits until
// probe answers over client (any HTTP answer means the service is up; even
// 403 without credentials). name says which service in errors.
func launch(name, bin string, args []string, client *http.Client, probe string) (*process, error) {
	workDir, err := os.MkdirTemp("", name+"-*")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = workDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(workDir, "azurite.log"))
	if err != nil {
		os.RemoveAll(workDir)
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(workDir)
		return nil, fmt.Errorf("azuritetest: start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	var out []byte
	go func() {
		_ = cmd.Wait()
		logf.Close()
		out, _ = os.ReadFile(filepath.Join(workDir, "azurite.log"))
		os.RemoveAll(workDir)
		close(p.done)
	}()
	deadline := time.Now().Add(startupBudget)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("azuritetest: %s exited before answering: %s", name, out)
		default:
		}
		resp, err := client.Get(probe)
		if err == nil {
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("azuritetest: %s did not answer at %s: %w", name, probe, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server's process group and waits for it to exit.
func (p *process) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}
