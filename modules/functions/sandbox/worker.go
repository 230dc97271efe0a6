package sandbox

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// EnvWorker set to "1" in a process's environment makes the process a worker (see
// init): the node starts its own executable with it, so every binary that links the
// functions module can serve as its own worker, tests included.
const EnvWorker = "STRATA_FUNCTION_WORKER"

// Exit codes of a worker, read by the node when it stops.
const (
	ExitMemory   = 3 // a run went over its memory limit; the worker left to give it back
	ExitProtocol = 4
)

func init() {
	if os.Getenv(EnvWorker) == "1" {
		os.Exit(Serve(os.Stdin, os.Stdout))
	}
}

//go:embed prelude.js
var preludeSource string

var prelude = goja.MustCompile("prelude.js", preludeSource, true)

var (
	errTimeout = errors.New("timeout")
	errMemory  = errors.New("memory")
)

// Serve answers run frames from in until it closes, and returns the exit code.
func Serve(in io.Reader, out io.Writer) int {
	// A runaway native recursion fails the worker quickly rather than growing a
	// goroutine stack to a gigabyte.
	debug.SetMaxStack(128 << 20)
	limitAddressSpace()
	w := &worker{in: bufio.NewReaderSize(in, 64<<10), out: bufio.NewWriterSize(out, 64<<10), programs: map[string]*goja.Program{}}
	stop := make(chan struct{})
	defer close(stop)
	go w.watch(stop)
	for {
		f, err := ReadFrame(w.in)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "worker:", err)
			return ExitProtocol
		}
		if f.Op != "run" {
			fmt.Fprintln(os.Stderr, "worker: unexpected frame", f.Op)
			return ExitProtocol
		}
		if err := w.run(f); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			return ExitProtocol
		}
		if w.overMemory() {
			return ExitMemory
		}
	}
}

type worker struct {
	in       *bufio.Reader
	out      *bufio.Writer
	programs map[string]*goja.Program

	mu     sync.Mutex
	active []*run // the outer run first, nested runs after it
	base   uint64 // live heap when the outer run started
	limit  uint64 // the outer run's memory limit in bytes
	over   bool
}

type run struct {
	id     uint64
	vm     *goja.Runtime
	limits Limits
	start  time.Time
	seq    uint64
	logs   []Log
	size   int
	cut    bool
}

func (w *worker) overMemory() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.over
}

func (w *worker) send(f *Frame) error {
	if err := WriteFrame(w.out, f); err != nil {
		return err
	}
	return w.out.Flush()
}

// run runs one function to its end and sends its outcome.
func (w *worker) run(f *Frame) error {
	r := &run{id: f.Run, vm: goja.New(), start: time.Now()}
	if f.Limits != nil {
		r.limits = *f.Limits
	}
	if r.limits.Stack > 0 {
		r.vm.SetMaxCallStackSize(r.limits.Stack)
	}
	w.enter(r)
	deadline := time.UnixMilli(r.limits.StartedAt).Add(time.Duration(r.limits.TimeoutMs) * time.Millisecond)
	timer := time.AfterFunc(time.Until(deadline), func() { r.vm.Interrupt(errTimeout) })
	out := w.execute(r, f)
	timer.Stop()
	w.leave(r)
	res, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode outcome: %w", err)
	}
	return w.send(&Frame{Op: "done", Run: r.id, Result: res})
}

func (w *worker) enter(r *run) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.active) == 0 {
		w.base = liveHeap()
		w.limit = uint64(max(r.limits.MemoryMB, 1)) << 20
		// The collector works harder near the limit, so the live heap the watchdog
		// reads stays close to what the run really holds.
		debug.SetMemoryLimit(int64(w.base + w.limit + 16<<20))
	}
	w.active = append(w.active, r)
}

func (w *worker) leave(r *run) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active = w.active[:len(w.active)-1]
	if len(w.active) == 0 {
		debug.SetMemoryLimit(-1)
	}
}

// watch stops the runs when the heap grows past the outer run's limit. Nested runs
// count against it too: they run on behalf of the outer one.
func (w *worker) watch(stop <-chan struct{}) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var lastGC time.Time
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		w.mu.Lock()
		busy, base, limit := len(w.active) > 0, w.base, w.limit
		w.mu.Unlock()
		if !busy {
			continue
		}
		if heapObjects() < base+limit {
			continue
		}
		// Objects include garbage; collect (at most every 20 ms) and look at what lives.
		if time.Since(lastGC) > 20*time.Millisecond {
			runtime.GC()
			lastGC = time.Now()
		}
		if liveHeap() < base+limit {
			continue
		}
		w.mu.Lock()
		w.over = true
		for _, r := range w.active {
			r.vm.Interrupt(errMemory)
		}
		w.mu.Unlock()
	}
}

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func liveHeap() uint64    { return readMetric("/gc/heap/live:bytes") }
func heapObjects() uint64 { return readMetric("/memory/classes/heap/objects:bytes") }

// execute runs the function and describes how it ended; it never panics on what the
// function does.
func (w *worker) execute(r *run, f *Frame) (out Outcome) {
	defer func() {
		if x := recover(); x != nil {
			out = Outcome{Status: "error", Error: fmt.Sprintf("the function stopped the engine: %v", x)}
		}
		out.Logs, out.LogsCut = r.logs, r.cut
	}()
	prog, err := w.program(f.Key, f.Code)
	if err != nil {
		return Outcome{Status: "invalid", Error: err.Error()}
	}
	var in Input
	if err := json.Unmarshal(f.Input, &in); err != nil {
		return Outcome{Status: "invalid", Error: "input: " + err.Error()}
	}
	vm := r.vm
	host := vm.NewObject()
	_ = host.Set("call", func(name, args string) goja.Value { return w.call(r, name, args) })
	_ = host.Set("log", func(level, msg string) { r.log(level, msg) })
	parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	inputValue, err := parse(goja.Undefined(), vm.ToValue(string(f.Input)))
	if err != nil {
		return Outcome{Status: "invalid", Error: "input: " + err.Error()}
	}
	makeCtx, err := vm.RunProgram(prelude)
	if err != nil {
		return Outcome{Status: "invalid", Error: "prelude: " + err.Error()}
	}
	build, _ := goja.AssertFunction(makeCtx)
	kit, err := build(goja.Undefined(), host, inputValue)
	if err != nil {
		return Outcome{Status: "invalid", Error: "prelude: " + err.Error()}
	}
	kitObj := kit.ToObject(vm)
	finish, _ := goja.AssertFunction(kitObj.Get("finish"))
	describe, _ := goja.AssertFunction(kitObj.Get("describe"))

	module := vm.NewObject()
	_ = module.Set("exports", vm.NewObject())
	wrapper, err := vm.RunProgram(prog)
	if err != nil {
		return w.failed(r, describe, err)
	}
	load, ok := goja.AssertFunction(wrapper)
	if !ok {
		return Outcome{Status: "invalid", Error: "the module did not compile to a function"}
	}
	require := func(name string) goja.Value {
		panic(vm.NewTypeError("functions cannot import modules (%q): everything a function may use is on ctx", name))
	}
	if _, err := load(goja.Undefined(), module, module.Get("exports"), vm.ToValue(require)); err != nil {
		return w.failed(r, describe, err)
	}
	exports := module.Get("exports").ToObject(vm)
	main, ok := goja.AssertFunction(exports.Get("default"))
	if !ok {
		return Outcome{Status: "invalid", Error: "the module has no default export function: write `export default async function (ctx) { … }`"}
	}
	res, err := main(goja.Undefined(), kitObj.Get("ctx"))
	if err != nil {
		return w.failed(r, describe, err)
	}
	if p, ok := res.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateRejected:
			return w.thrown(r, describe, p.Result())
		case goja.PromiseStatePending:
			return Outcome{Status: "error", Error: "the function did not finish: it awaits something that never settles"}
		}
		res = p.Result()
	}
	js, err := finish(goja.Undefined(), res)
	if err != nil {
		return w.failed(r, describe, err)
	}
	s := js.String()
	if r.limits.Output > 0 && len(s) > r.limits.Output {
		return Outcome{Status: "error", Error: fmt.Sprintf("the output is %d bytes, over the limit of %d", len(s), r.limits.Output)}
	}
	var done struct {
		Output   json.RawMessage `json:"output"`
		Response *Response       `json:"response"`
		Payload  json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal([]byte(s), &done); err != nil {
		return Outcome{Status: "error", Error: "the output is not JSON: " + err.Error()}
	}
	return Outcome{Status: "success", Output: done.Output, Response: done.Response, Payload: done.Payload}
}

// failed describes an error out of the engine: an interrupt, a stack overflow, or a
// thrown value.
func (w *worker) failed(r *run, describe goja.Callable, err error) Outcome {
	var intr *goja.InterruptedError
	if errors.As(err, &intr) {
		if intr.Value() == errMemory {
			return Outcome{Status: "memory", Error: fmt.Sprintf("the function went over its memory limit of %d MB", r.limits.MemoryMB)}
		}
		return Outcome{Status: "timeout", Error: fmt.Sprintf("the function ran past its time limit of %d ms", r.limits.TimeoutMs)}
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return Outcome{Status: "error", Error: "RangeError: maximum call stack size exceeded"}
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return w.thrown(r, describe, ex.Value())
	}
	return Outcome{Status: "error", Error: err.Error()}
}

func (w *worker) thrown(r *run, describe goja.Callable, v goja.Value) Outcome {
	if w.overMemory() {
		return Outcome{Status: "memory", Error: fmt.Sprintf("the function went over its memory limit of %d MB", r.limits.MemoryMB)}
	}
	d, err := describe(goja.Undefined(), v)
	if err != nil {
		return w.failed(r, describe, err)
	}
	var desc struct {
		Message string     `json:"message"`
		Reject  *CallError `json:"reject"`
	}
	_ = json.Unmarshal([]byte(d.String()), &desc)
	if desc.Reject != nil {
		return Outcome{Status: "rejected", Error: desc.Reject.Message, Reject: desc.Reject}
	}
	return Outcome{Status: "error", Error: desc.Message}
}

// program compiles a module once per key (the code's checksum).
func (w *worker) program(key, code string) (*goja.Program, error) {
	if p := w.programs[key]; p != nil && key != "" {
		return p, nil
	}
	p, err := goja.Compile("function.js", "(function (module, exports, require) {\n"+code+"\n})", false)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	if len(w.programs) >= 256 {
		clear(w.programs)
	}
	w.programs[key] = p
	return p, nil
}

// call asks the node and waits for its reply; a nested run the node starts meanwhile
// runs here, to its end, first.
func (w *worker) call(r *run, name, args string) goja.Value {
	r.seq++
	seq := r.seq
	if err := w.send(&Frame{Op: "call", Run: r.id, Seq: seq, Name: name, Args: json.RawMessage(args)}); err != nil {
		panic(r.vm.NewGoError(fmt.Errorf("call %s: %w", name, err)))
	}
	for {
		f, err := ReadFrame(w.in)
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker: node went away:", err)
			os.Exit(ExitProtocol)
		}
		switch {
		case f.Op == "run":
			if err := w.run(f); err != nil {
				fmt.Fprintln(os.Stderr, "worker:", err)
				os.Exit(ExitProtocol)
			}
		case f.Op == "reply" && f.Run == r.id && f.Seq == seq:
			if f.Error != nil {
				e := r.vm.NewGoError(errors.New(f.Error.Message))
				_ = e.Set("name", "Error")
				_ = e.Set("message", f.Error.Message)
				_ = e.Set("code", f.Error.Code)
				_ = e.Set("status", f.Error.Status)
				panic(e)
			}
			if len(f.Result) == 0 {
				return goja.Undefined()
			}
			return r.vm.ToValue(string(f.Result))
		default:
			fmt.Fprintln(os.Stderr, "worker: unexpected frame", f.Op, "while waiting on a call")
			os.Exit(ExitProtocol)
		}
	}
}

// log keeps a line while the run's log budget lasts.
func (r *run) log(level, msg string) {
	if r.cut {
		return
	}
	if r.limits.Logs > 0 && r.size+len(msg) > r.limits.Logs {
		r.cut = true
		return
	}
	r.size += len(msg)
	if !strings.Contains("log warn error", level) {
		level = "log"
	}
	r.logs = append(r.logs, Log{Level: level, Message: msg, At: time.Since(r.start).Milliseconds()})
}
