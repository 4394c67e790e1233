// Package stack starts the whole system as local processes: a Consul dev agent, the user and
// greeter services and the gateway. `make run` and the end-to-end tests both use it, so what the
// tests check is what a developer runs.
package stack

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process whose output lines are copied to a shared writer, each prefixed
// with the process's name.
type Process struct {
	Name string
	// stopSignal asks the process to end gracefully.
	stopSignal os.Signal
	// anyExitOnStop: the process may end with a non-zero status when asked to stop (Consul's
	// dev agent does) without that being a failure.
	anyExitOnStop bool
	cmd           *exec.Cmd
	done          chan struct{}
	err           error
	// last are the process's last lines of output, which say why it ended.
	last []string
}

// lastLines is how many lines of output a Process keeps for its exit error.
const lastLines = 3

// lockedWriter serialises lines from several processes.
type lockedWriter struct {
	mu  sync.Mutex
	out io.Writer
}

func (w *lockedWriter) writeLine(prefix, line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.out, "%-8s| %s\n", prefix, line)
}

// startProcess runs bin with args and env added to ours, copying its output to out.
func startProcess(name string, out *lockedWriter, bin string, args, env []string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = procAttr()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, stopSignal: syscall.SIGTERM, cmd: cmd, done: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		s := bufio.NewScanner(pr)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			out.writeLine(name, s.Text())
			p.last = append(p.last[max(0, len(p.last)+1-lastLines):], s.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-copied
		if err != nil && len(p.last) > 0 {
			err = fmt.Errorf("%w; last output: %s", err, strings.Join(p.last, " / "))
		}
		p.err = err
		close(p.done)
	}()
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Done is closed when the process has ended and its output is copied.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop asks the process to end (SIGTERM; SIGINT for Consul, which then leaves gracefully) and
// kills it if it has not within grace.
// It returns the exit error of a process that did not end cleanly.
func (p *Process) Stop(grace time.Duration) error {
	if exited, err := p.Exited(); exited {
		return err
	}
	if err := p.cmd.Process.Signal(p.stopSignal); err != nil && !errors.Is(err, os.ErrProcessDone) {
		// Windows delivers no SIGTERM: the process is killed instead.
		p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
		if p.anyExitOnStop {
			return nil
		}
		return p.err
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", p.Name, grace)
	}
}
