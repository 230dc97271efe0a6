package functions

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"

	"strata/modules/apierr"
	"strata/modules/functions/sandbox"
)

// Calls answers what a running function asks of the node (rows, fetch). A run the
// answer starts (a hook fired by the function's own write) runs on the same worker:
// ctx carries it.
type Calls func(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error)

// Job is one run for the pool.
type Job struct {
	Scope  string // the tenant: warm engines are never shared between tenants
	Key    string // the code's checksum: the worker compiles it once
	Code   string
	Input  json.RawMessage // a sandbox.Input
	Limits sandbox.Limits
	Calls  Calls
}

// Pool keeps worker processes (this executable, started as a worker) and runs jobs on
// them, one at a time each. A worker that breaks (a crash, a run over its memory, a
// run that would not stop) is killed and replaced; the node goes on.
type Pool struct {
	// Max bounds the workers; a job waits for one (within its deadline) past it.
	Max int

	mu     sync.Mutex
	idle   []*worker
	count  int
	freed  chan struct{}
	closed bool
	runs   atomic.Uint64
	reaper sync.Once
}

type worker struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tail
	exited chan struct{}
	// killed says why the node stopped it ("timeout"), when it did.
	killed atomic.Value
	// sent are the code keys this worker has been sent: a run of one it has goes without
	// its code (it answers need_code if it dropped it since).
	sent     map[string]bool
	broken   bool
	lastUsed time.Time
}

type sessionKey struct{}

// session is the worker a run is on, so a run started while it waits goes there too.
type session struct {
	w     *worker
	depth int
}

// Depth is how many runs enclose a call made with ctx (0 outside any).
func Depth(ctx context.Context) int {
	if s, ok := ctx.Value(sessionKey{}).(*session); ok {
		return s.depth
	}
	return 0
}

// workerAddressSpace bounds each worker's virtual memory: the hard stop behind the
// per-run limit.
const workerAddressSpace = 4 << 30

// workerCommand starts this executable as a worker.
func workerCommand() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe)
	// Nothing of the node's environment (database URLs, keys) reaches a worker.
	cmd.Env = []string{sandbox.EnvWorker + "=1", fmt.Sprintf("%s=%d", sandbox.EnvAddressSpace, workerAddressSpace), "GOMAXPROCS=1"}
	cmd.Dir = os.TempDir()
	return cmd
}

func (p *Pool) start() (*worker, error) {
	cmd := workerCommand()
	setProcAttr(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("worker stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("worker stdout: %w", err)
	}
	w := &worker{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 64<<10), stderr: &tail{max: 4096}, exited: make(chan struct{}), sent: map[string]bool{}}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a function worker: %w", err)
	}
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

func (w *worker) kill(reason string) {
	w.killed.CompareAndSwap(nil, reason)
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
}

// get takes an idle worker or starts one, waiting (until ctx ends) when Max are busy.
func (p *Pool) get(ctx context.Context) (*worker, error) {
	p.reaper.Do(func() { go p.reap() })
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("the function pool is closed")
		}
		if n := len(p.idle); n > 0 {
			w := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return w, nil
		}
		if p.count < max(p.Max, 1) {
			p.count++
			p.mu.Unlock()
			w, err := p.start()
			if err != nil {
				p.mu.Lock()
				p.count--
				p.mu.Unlock()
				return nil, err
			}
			return w, nil
		}
		if p.freed == nil {
			p.freed = make(chan struct{})
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, apierr.New(503, "SERVICE_UNAVAILABLE", "every function worker is busy").With("retryable", true)
		}
	}
}

func (p *Pool) put(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.broken || p.closed {
		p.count--
		w.kill("")
	} else {
		w.lastUsed = time.Now()
		p.idle = append(p.idle, w)
	}
	if p.freed != nil {
		close(p.freed)
		p.freed = nil
	}
}

// idleWorker is how long a worker may sit unused before it is closed (one is kept).
const idleWorker = time.Minute

// reap closes workers idle for long, keeping one warm.
func (p *Pool) reap() {
	for {
		time.Sleep(idleWorker / 2)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		keep := p.idle[:0]
		for i, w := range p.idle {
			if i > 0 && time.Since(w.lastUsed) > idleWorker {
				p.count--
				_ = w.in.Close()
				continue
			}
			keep = append(keep, w)
		}
		p.idle = keep
		p.mu.Unlock()
	}
}

// Close stops every idle worker; busy ones stop when their run ends.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, w := range p.idle {
		_ = w.in.Close()
	}
	p.idle = nil
}

// Run runs a job to its end. Within a call of another run (ctx says), it runs on that
// run's worker. A failed run is an outcome, not an error; the error is the node's
// (no worker could be had).
func (p *Pool) Run(ctx context.Context, job Job) (*sandbox.Outcome, error) {
	if s, ok := ctx.Value(sessionKey{}).(*session); ok {
		return p.exec(ctx, s.w, s.depth+1, job)
	}
	started := time.UnixMilli(job.Limits.StartedAt)
	deadline := started.Add(time.Duration(job.Limits.TimeoutMs) * time.Millisecond)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	w, err := p.get(wctx)
	cancel()
	if err != nil {
		return nil, err
	}
	defer p.put(w)
	// The worker stops a run at its deadline itself; one that does not answer a
	// second later (stuck in one long native step) is killed.
	guard := time.AfterFunc(time.Until(deadline)+time.Second, func() { w.kill("timeout") })
	defer guard.Stop()
	return p.exec(ctx, w, 1, job)
}

func (p *Pool) exec(ctx context.Context, w *worker, depth int, job Job) (*sandbox.Outcome, error) {
	out, err := p.send(ctx, w, depth, job, !w.sent[job.Key])
	if err == nil && out.Status == "need_code" {
		out, err = p.send(ctx, w, depth, job, true)
	}
	return out, err
}

func (p *Pool) send(ctx context.Context, w *worker, depth int, job Job, withCode bool) (*sandbox.Outcome, error) {
	id := p.runs.Add(1)
	limits := job.Limits
	f := &sandbox.Frame{Op: "run", Run: id, Scope: job.Scope, Key: job.Key, Input: job.Input, Limits: &limits}
	if withCode {
		f.Code = job.Code
		if len(w.sent) >= 4096 {
			clear(w.sent)
		}
		w.sent[job.Key] = true
	}
	if err := sandbox.WriteFrame(w.in, f); err != nil {
		return w.lost(), nil
	}
	inner := context.WithValue(ctx, sessionKey{}, &session{w: w, depth: depth})
	for {
		f, err := sandbox.ReadFrame(w.out)
		if err != nil {
			return w.lost(), nil
		}
		switch {
		case f.Op == "call" && f.Run == id:
			reply := &sandbox.Frame{Op: "reply", Run: id, Seq: f.Seq}
			res, err := job.Calls(inner, f.Name, f.Args)
			if err != nil {
				reply.Error = callError(err)
			} else {
				reply.Result = res
			}
			if err := sandbox.WriteFrame(w.in, reply); err != nil {
				return w.lost(), nil
			}
		case f.Op == "done" && f.Run == id:
			var out sandbox.Outcome
			if err := json.Unmarshal(f.Result, &out); err != nil {
				w.broken = true
				return &sandbox.Outcome{Status: "error", Error: "the worker answered nonsense"}, nil
			}
			if out.Status == "memory" || f.Leaving {
				w.broken = true // it leaves to give the memory back
			}
			return &out, nil
		default:
			w.broken = true
			w.kill("")
			return &sandbox.Outcome{Status: "error", Error: fmt.Sprintf("the worker sent %q out of turn", f.Op)}, nil
		}
	}
}

// lost describes a worker that stopped answering mid-run, and marks it for replacing.
func (w *worker) lost() *sandbox.Outcome {
	w.broken = true
	w.kill("")
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second):
	}
	if r, _ := w.killed.Load().(string); r == "timeout" {
		return &sandbox.Outcome{Status: "timeout", Error: "the function ran past its time limit and was stopped"}
	}
	msg := w.stderr.String()
	code := -1
	if w.cmd.ProcessState != nil {
		code = w.cmd.ProcessState.ExitCode()
	}
	switch {
	case code == sandbox.ExitMemory, strings.Contains(msg, "out of memory"), strings.Contains(msg, "cannot allocate memory"):
		return &sandbox.Outcome{Status: "memory", Error: "the function went over its memory limit"}
	case strings.Contains(msg, "stack exceeds"), strings.Contains(msg, "stack overflow"):
		return &sandbox.Outcome{Status: "error", Error: "RangeError: maximum call stack size exceeded"}
	}
	return &sandbox.Outcome{Status: "error", Error: "the function's worker stopped"}
}

// callError is what a refused call tells the function.
func callError(err error) *sandbox.CallError {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return &sandbox.CallError{Status: ae.Status, Code: ae.Code, Message: ae.Message}
	}
	return &sandbox.CallError{Status: 500, Code: "INTERNAL", Message: err.Error()}
}

// tail keeps the last bytes written to it: a worker's stderr, for why it stopped.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
