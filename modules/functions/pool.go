package functions

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
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
// them. A worker that breaks (a crash, a run over its memory, a run that would not
// stop) is replaced; the node goes on.
//
// A worker runs one job at a time. When every worker is busy, a job may be queued on
// the least busy one (at most pipelineDepth jobs on a worker): the worker then reads
// its next job as it sends an answer instead of sleeping until the node writes again,
// which is what a run costs on a busy machine. A free worker is always taken first.
type Pool struct {
	// Max bounds the workers; a job waits for one (within its deadline) past it.
	Max int

	mu      sync.Mutex
	workers []*worker // started and not yet retired
	count   int       // workers started or starting
	freed   chan struct{}
	closed  bool
	runs    atomic.Uint64
	reaper  sync.Once
}

// pipelineDepth is how many jobs a worker holds at most: the one it runs and the next.
const pipelineDepth = 2

type worker struct {
	cmd    *exec.Cmd
	stderr *tail
	exited chan struct{}
	// killed says why the node stopped it ("timeout") and for which run, when it did.
	killed atomic.Pointer[killReason]

	wmu sync.Mutex // one frame at a time into in
	in  io.WriteCloser

	out  *bufio.Reader // read by readFrames only
	gone chan struct{} // closed when readFrames stops: the worker died or broke the protocol

	mu      sync.Mutex
	waiting map[uint64]chan *sandbox.Frame // each run under way on it, by id
	// sent are the code keys this worker has been sent: a run of one it has goes without
	// its code (it answers need_code if it dropped it since).
	sent map[string]bool

	// Guarded by Pool.mu.
	jobs     int  // jobs on it now, running or queued
	broken   bool // takes no new jobs; retired when its last one ends
	lastUsed time.Time
}

type killReason struct {
	reason string
	run    uint64
}

type sessionKey struct{}

// session is the worker a run is on, so a run started while it waits goes there too.
type session struct {
	w     *worker
	run   uint64
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
	w := &worker{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 64<<10), stderr: &tail{max: 4096}, exited: make(chan struct{}),
		gone: make(chan struct{}), waiting: map[uint64]chan *sandbox.Frame{}, sent: map[string]bool{}}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a function worker: %w", err)
	}
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	go w.readFrames()
	return w, nil
}

// readFrames hands each frame the worker sends to the run it names, until the worker
// stops. A run has at most one frame unanswered (a call, then its done); anything
// else is a broken worker.
func (w *worker) readFrames() {
	defer close(w.gone)
	for {
		f, err := sandbox.ReadFrame(w.out)
		if err != nil {
			return
		}
		w.mu.Lock()
		ch := w.waiting[f.Run]
		w.mu.Unlock()
		select {
		case ch <- f: // a nil ch (no such run) blocks: default
		default:
			w.kill("")
			return
		}
	}
}

func (w *worker) kill(reason string, run ...uint64) {
	k := &killReason{reason: reason}
	if len(run) > 0 {
		k.run = run[0]
	}
	w.killed.CompareAndSwap(nil, k)
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
}

// write sends one frame.
func (w *worker) write(f *sandbox.Frame) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return sandbox.WriteFrame(w.in, f)
}

// get takes a free worker, or starts one, or queues behind the least busy one, waiting
// (until ctx ends) when every worker holds pipelineDepth jobs.
func (p *Pool) get(ctx context.Context) (*worker, error) {
	p.reaper.Do(func() { go p.reap() })
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("the function pool is closed")
		}
		var least *worker
		for _, w := range p.workers {
			if !w.broken && (least == nil || w.jobs < least.jobs) {
				least = w
			}
		}
		if least != nil && least.jobs == 0 {
			least.jobs++
			p.mu.Unlock()
			return least, nil
		}
		if p.count < max(p.Max, 1) {
			p.count++
			p.mu.Unlock()
			w, err := p.start()
			p.mu.Lock()
			defer p.mu.Unlock()
			if err != nil {
				p.count--
				return nil, err
			}
			w.jobs = 1
			p.workers = append(p.workers, w)
			return w, nil
		}
		if least != nil && least.jobs < pipelineDepth {
			least.jobs++
			p.mu.Unlock()
			return least, nil
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

// put ends a job on w; a broken worker is retired once it has none.
func (p *Pool) put(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.jobs--
	w.lastUsed = time.Now()
	if (w.broken || p.closed) && w.jobs == 0 {
		p.retire(w)
	}
	if p.freed != nil {
		close(p.freed)
		p.freed = nil
	}
}

// retire stops w (with p.mu held): its input closes, so a worker that is leaving
// exits, and it is killed in case it is not.
func (p *Pool) retire(w *worker) {
	if i := slices.Index(p.workers, w); i >= 0 {
		p.workers = slices.Delete(p.workers, i, i+1)
		p.count--
	}
	_ = w.in.Close()
	go func() {
		select {
		case <-w.exited:
		case <-time.After(5 * time.Second):
			w.kill("")
		}
	}()
}

// breaks marks w to take no new jobs.
func (p *Pool) breaks(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.broken = true
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
		kept := 0
		for _, w := range slices.Clone(p.workers) {
			if w.jobs == 0 && !w.broken && time.Since(w.lastUsed) > idleWorker && kept > 0 {
				p.retire(w)
				continue
			}
			kept++
		}
		p.mu.Unlock()
	}
}

// Close stops every idle worker; busy ones stop when their jobs end.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, w := range slices.Clone(p.workers) {
		if w.jobs == 0 {
			p.retire(w)
		}
	}
}

// Run runs a job to its end. Within a call of another run (ctx says), it runs on that
// run's worker. A failed run is an outcome, not an error; the error is the node's
// (no worker could be had).
func (p *Pool) Run(ctx context.Context, job Job) (*sandbox.Outcome, error) {
	if s, ok := ctx.Value(sessionKey{}).(*session); ok {
		return p.exec(ctx, s.w, s.run, s.depth+1, job)
	}
	started := time.UnixMilli(job.Limits.StartedAt)
	deadline := started.Add(time.Duration(job.Limits.TimeoutMs) * time.Millisecond)
	for {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		w, err := p.get(wctx)
		cancel()
		if err != nil {
			return nil, err
		}
		out, err := p.exec(ctx, w, 0, 1, job)
		p.put(w)
		// A worker that was leaving answers the jobs queued on it unrun: they go to
		// another.
		if err != nil || out.Status != "retry" {
			return out, err
		}
	}
}

func (p *Pool) exec(ctx context.Context, w *worker, parent uint64, depth int, job Job) (*sandbox.Outcome, error) {
	w.mu.Lock()
	known := w.sent[job.Key]
	w.mu.Unlock()
	out, err := p.send(ctx, w, parent, depth, job, !known)
	if err == nil && out.Status == "need_code" {
		out, err = p.send(ctx, w, parent, depth, job, true)
	}
	return out, err
}

func (p *Pool) send(ctx context.Context, w *worker, parent uint64, depth int, job Job, withCode bool) (*sandbox.Outcome, error) {
	id := p.runs.Add(1)
	limits := job.Limits
	f := &sandbox.Frame{Op: "run", Run: id, Parent: parent, Scope: job.Scope, Key: job.Key, Input: job.Input, Limits: &limits}
	frames := make(chan *sandbox.Frame, 1)
	w.mu.Lock()
	w.waiting[id] = frames
	if withCode {
		f.Code = job.Code
		if len(w.sent) >= 4096 {
			clear(w.sent)
		}
		w.sent[job.Key] = true
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.waiting, id)
		w.mu.Unlock()
	}()
	if parent == 0 {
		// The worker stops a run at its deadline itself; one that does not answer a
		// second later (stuck in one long native step) is killed.
		deadline := time.UnixMilli(limits.StartedAt).Add(time.Duration(limits.TimeoutMs) * time.Millisecond)
		guard := time.AfterFunc(time.Until(deadline)+time.Second, func() { w.kill("timeout", id) })
		defer guard.Stop()
	}
	if err := w.write(f); err != nil {
		return p.lost(w, id), nil
	}
	inner := context.WithValue(ctx, sessionKey{}, &session{w: w, run: id, depth: depth})
	for {
		var f *sandbox.Frame
		select {
		case f = <-frames:
		case <-w.gone:
			select {
			case f = <-frames: // sent before it went
			default:
				return p.lost(w, id), nil
			}
		}
		switch f.Op {
		case "call":
			reply := &sandbox.Frame{Op: "reply", Run: id, Seq: f.Seq}
			res, err := job.Calls(inner, f.Name, f.Args)
			if err != nil {
				reply.Error = callError(err)
			} else {
				reply.Result = res
			}
			if err := w.write(reply); err != nil {
				return p.lost(w, id), nil
			}
		case "done":
			var out sandbox.Outcome
			if err := json.Unmarshal(f.Result, &out); err != nil {
				p.breaks(w)
				w.kill("")
				return &sandbox.Outcome{Status: "error", Error: "the worker answered nonsense"}, nil
			}
			if out.Status == "memory" || out.Status == "retry" || f.Leaving {
				p.breaks(w) // it leaves to give the memory back
			}
			return &out, nil
		default:
			p.breaks(w)
			w.kill("")
			return &sandbox.Outcome{Status: "error", Error: fmt.Sprintf("the worker sent %q out of turn", f.Op)}, nil
		}
	}
}

// lost describes run id's worker stopping mid-run, and marks it for replacing.
func (p *Pool) lost(w *worker, id uint64) *sandbox.Outcome {
	p.breaks(w)
	w.kill("")
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second):
	}
	if k := w.killed.Load(); k != nil && k.reason == "timeout" {
		if k.run == id {
			return &sandbox.Outcome{Status: "timeout", Error: "the function ran past its time limit and was stopped"}
		}
		return &sandbox.Outcome{Status: "error", Error: "the function's worker was stopped for another run that would not end"}
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
