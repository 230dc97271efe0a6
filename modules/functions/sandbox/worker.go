package sandbox

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"time"

	"github.com/dop251/goja"
	json "github.com/goccy/go-json"
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
	w := &worker{in: bufio.NewReaderSize(in, 64<<10), out: bufio.NewWriterSize(out, 64<<10), programs: map[string]*goja.Program{},
		engines: map[string]*engine{}, runs: map[uint64]*run{}}
	stop := make(chan struct{})
	defer close(stop)
	go w.watch(stop)
	for {
		f, err := w.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if w.overMemory() {
					return ExitMemory
				}
				return 0
			}
			fmt.Fprintln(os.Stderr, "worker:", err)
			return ExitProtocol
		}
		if f.Op != "run" {
			fmt.Fprintln(os.Stderr, "worker: unexpected frame", f.Op)
			return ExitProtocol
		}
		if w.overMemory() {
			// Leaving: what the node queued here before it knew goes back unrun.
			if err := w.send(&Frame{Op: "done", Run: f.Run, Result: json.RawMessage(`{"status":"retry"}`), Leaving: true}); err != nil {
				return ExitMemory
			}
			continue
		}
		if err := w.run(f); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			return ExitProtocol
		}
		if w.overMemory() {
			// Give the memory back now; the node closes the input once it has taken
			// back what it queued here, and the worker exits.
			clear(w.engines)
			clear(w.programs)
			debug.FreeOSMemory()
		}
	}
}

// next is the run queued while a call waited, or the next frame from the node.
func (w *worker) next() (*Frame, error) {
	if len(w.queue) > 0 {
		f := w.queue[0]
		w.queue = w.queue[1:]
		return f, nil
	}
	return ReadFrame(w.in)
}

type worker struct {
	in       *bufio.Reader
	out      *bufio.Writer
	programs map[string]*goja.Program
	engines  map[string]*engine
	runs     map[uint64]*run // the runs under way, outer and nested, by id
	queue    []*Frame        // runs the node queued while a call waited

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

// engine is a goja runtime with one tenant's function loaded, kept warm between that
// function's runs: building a runtime costs more than most runs. It is never shared
// between tenants or functions (the key is both); module-scope state may persist
// between runs of the function, as on other serverless platforms. An engine whose run
// was cut short (time, memory) is thrown away.
type engine struct {
	vm       *goja.Runtime
	begin    goja.Callable // the prelude's: one run's ctx
	finish   goja.Callable
	describe goja.Callable
	main     goja.Callable // nil until the module has loaded
	busy     bool
	used     time.Time
}

// maxEngines bounds the warm engines of a worker; the least recently used goes first.
const maxEngines = 64

// engineFor takes the warm engine of f's tenant and function, or makes one (a run
// nested in a run of the same function gets its own, not kept).
func (w *worker) engineFor(f *Frame) (*engine, string, error) {
	key := f.Scope + "\x00" + f.Key
	if e := w.engines[key]; e != nil && !e.busy {
		return e, key, nil
	} else if e != nil {
		key = ""
	}
	vm := goja.New()
	made, err := vm.RunProgram(prelude)
	if err != nil {
		return nil, "", fmt.Errorf("prelude: %w", err)
	}
	makeKit, _ := goja.AssertFunction(made)
	// The host's calls name their run: a ctx kept past its run (in module scope) finds
	// it ended, never another run.
	host := vm.NewObject()
	_ = host.Set("call", func(id int64, name, args string) goja.Value {
		r := w.runs[uint64(id)]
		if r == nil || r.vm != vm {
			panic(vm.NewTypeError("this ctx belongs to a run that has ended"))
		}
		return w.call(r, name, args)
	})
	_ = host.Set("log", func(id int64, level, msg string) {
		if r := w.runs[uint64(id)]; r != nil && r.vm == vm {
			r.log(level, msg)
		}
	})
	kit, err := makeKit(goja.Undefined(), host)
	if err != nil {
		return nil, "", fmt.Errorf("prelude: %w", err)
	}
	kitObj := kit.ToObject(vm)
	begin, _ := goja.AssertFunction(kitObj.Get("begin"))
	finish, _ := goja.AssertFunction(kitObj.Get("finish"))
	describe, _ := goja.AssertFunction(kitObj.Get("describe"))
	e := &engine{vm: vm, begin: begin, finish: finish, describe: describe}
	if key != "" {
		if len(w.engines) >= maxEngines {
			oldest := ""
			for k, o := range w.engines {
				if !o.busy && (oldest == "" || o.used.Before(w.engines[oldest].used)) {
					oldest = k
				}
			}
			delete(w.engines, oldest)
		}
		w.engines[key] = e
	}
	return e, key, nil
}

// run runs one function to its end and sends its outcome.
func (w *worker) run(f *Frame) error {
	r := &run{id: f.Run, start: time.Now()}
	if f.Limits != nil {
		r.limits = *f.Limits
	}
	e, key, err := w.engineFor(f)
	if err != nil {
		return err
	}
	e.busy, e.used = true, time.Now()
	r.vm = e.vm
	r.vm.ClearInterrupt() // a timer of the engine's last run may have fired as it ended
	if r.limits.Stack > 0 {
		r.vm.SetMaxCallStackSize(r.limits.Stack)
	}
	w.enter(r)
	deadline := time.UnixMilli(r.limits.StartedAt).Add(time.Duration(r.limits.TimeoutMs) * time.Millisecond)
	timer := time.AfterFunc(time.Until(deadline), func() { r.vm.Interrupt(errTimeout) })
	out := w.execute(r, e, f)
	timer.Stop()
	w.leave(r)
	e.busy = false
	switch out.Status {
	case "timeout", "memory", "invalid", "broken", "need_code":
		if key != "" {
			delete(w.engines, key)
		}
		if out.Status == "broken" {
			out.Status = "error"
		}
	}
	res, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode outcome: %w", err)
	}
	// A worker whose heap has grown past what it should hold idle leaves after this
	// run, and says so, so the node starts a fresh one rather than find it gone.
	leaving := w.overMemory() || (len(w.active) == 0 && liveHeap() > maxIdleHeap)
	if leaving {
		w.mu.Lock()
		w.over = true
		w.mu.Unlock()
	}
	return w.send(&Frame{Op: "done", Run: r.id, Result: res, Leaving: leaving})
}

// maxIdleHeap is the live heap past which a worker leaves between runs (warm engines
// and what functions keep in module scope add up).
const maxIdleHeap = 512 << 20

func (w *worker) enter(r *run) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.active) == 0 {
		w.base = liveHeap()
		w.limit = uint64(max(r.limits.MemoryMB, 1)) << 20
	}
	w.active = append(w.active, r)
}

func (w *worker) leave(r *run) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active = w.active[:len(w.active)-1]
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
func (w *worker) execute(r *run, e *engine, f *Frame) (out Outcome) {
	defer func() {
		if x := recover(); x != nil {
			out = Outcome{Status: "broken", Error: fmt.Sprintf("the function stopped the engine: %v", x)}
		}
		out.Logs, out.LogsCut = r.logs, r.cut
	}()
	vm := e.vm
	describe := e.describe
	w.runs[r.id] = r
	defer delete(w.runs, r.id)
	var input any
	if err := json.Unmarshal(f.Input, &input); err != nil {
		return Outcome{Status: "invalid", Error: "input: " + err.Error()}
	}
	ctx, err := e.begin(goja.Undefined(), vm.ToValue(int64(r.id)), toJS(vm, input))
	if err != nil {
		return Outcome{Status: "invalid", Error: "input: " + err.Error()}
	}
	trigger := ""
	if m, ok := input.(map[string]any); ok {
		trigger, _ = m["trigger"].(string)
	}
	if e.main == nil {
		if f.Code == "" && w.programs[f.Key] == nil {
			return Outcome{Status: "need_code"} // the node sends it again, with the code
		}
		// The module's top level runs once per engine, within this run's limits.
		prog, err := w.program(f.Key, f.Code)
		if err != nil {
			return Outcome{Status: "invalid", Error: err.Error()}
		}
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
		main, ok := goja.AssertFunction(module.Get("exports").ToObject(vm).Get("default"))
		if !ok {
			return Outcome{Status: "invalid", Error: "the module has no default export function: write `export default async function (ctx) { … }`"}
		}
		e.main = main
	}
	res, err := e.main(goja.Undefined(), ctx)
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
	js, err := e.finish(goja.Undefined(), ctx, vm.ToValue(trigger), res)
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

// toJS makes plain JavaScript values of decoded JSON (objects with their keys in
// order, arrays): faster than the engine's own JSON.parse, and what a function holds
// is an ordinary object, not a view of a Go value.
func toJS(vm *goja.Runtime, v any) goja.Value {
	switch x := v.(type) {
	case nil:
		return goja.Null()
	case map[string]any:
		o := vm.NewObject()
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			_ = o.Set(k, toJS(vm, x[k]))
		}
		return o
	case []any:
		items := make([]any, len(x))
		for i := range x {
			items[i] = toJS(vm, x[i])
		}
		return vm.NewArray(items...)
	}
	return vm.ToValue(v)
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
		case f.Op == "run" && f.Parent == 0:
			w.queue = append(w.queue, f) // the next job, not part of this run
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
	if level != "warn" && level != "error" {
		level = "log"
	}
	r.logs = append(r.logs, Log{Level: level, Message: msg, At: time.Since(r.start).Milliseconds()})
}
