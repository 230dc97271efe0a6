package functions

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"strata/modules/apierr"
	"strata/modules/functions/sandbox"
)

func job(t *testing.T, source string, timeoutMs int, calls Calls) Job {
	t.Helper()
	code, sum, err := Compile(source)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	in, _ := json.Marshal(sandbox.Input{Trigger: "manual", Input: json.RawMessage(`{"n":2}`), Env: map[string]string{"KEY": "v"}})
	if calls == nil {
		calls = func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			return nil, apierr.Forbidden("no calls here")
		}
	}
	return Job{Key: sum, Code: code, Input: in, Calls: calls, Limits: sandbox.Limits{
		TimeoutMs: timeoutMs, MemoryMB: 64, Output: 1 << 20, Logs: 4096, Stack: 500, StartedAt: time.Now().UnixMilli()}}
}

// TestRunOutcomes: what a function returns, throws, logs or refuses, and the limits
// that stop it, each come back as an outcome; the pool keeps working after each.
func TestRunOutcomes(t *testing.T) {
	p := &Pool{Max: 2}
	defer p.Close()
	cases := []struct {
		name, source, status, want string
		timeout                    int
	}{
		{"returns", `export default async function (ctx: any) { ctx.log("hi", {a: 1}); return {n: ctx.input.n * 2, env: ctx.env.KEY} }`, "success", `{"n":4,"env":"v"}`, 2000},
		{"throws", `export default async function () { throw new Error("nope") }`, "error", "nope", 2000},
		{"rejects", `export default async function (ctx) { ctx.reject(409, "TAKEN", "already there") }`, "rejected", "already there", 2000},
		{"loops", `export default async function () { while (true) {} }`, "timeout", "time limit", 300},
		{"loops after await", `export default async function () { await null; for (;;) {} }`, "timeout", "time limit", 300},
		{"recurses", `export default async function () { const f = (n) => f(n + 1) + 1; return f(0) }`, "error", "call stack", 2000},
		{"allocates", `export default async function () { const a = []; for (;;) a.push("x".repeat(1024) + a.length) }`, "memory", "memory limit", 20000},
		{"huge output", `export default async function () { return "x".repeat(2 << 20) }`, "error", "over the limit", 2000},
		{"no default", `export const x = 1`, "invalid", "default export", 2000},
		{"calls refused", `export default async function (ctx) { return await ctx.items("posts").readMany({}) }`, "error", "no calls here", 2000},
		{"no require", `import fs from "fs"; export default async function () { return fs.readFileSync("/etc/passwd") }`, "error", "cannot import modules", 2000},
		{"one huge allocation", `export default async function () { const a = []; for (;;) a.push("x".repeat(1 << 28)) }`, "memory", "memory limit", 20000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.source
			if c.name == "no default" {
				// Compile refuses it; run what a hand-made definition would hold.
				if _, _, err := Compile(src); err == nil || !strings.Contains(err.Error(), "default export") {
					t.Fatalf("compile of a module without a default export: %v", err)
				}
				return
			}
			started := time.Now()
			out, err := p.Run(context.Background(), job(t, src, c.timeout, nil))
			if err != nil {
				t.Fatal(err)
			}
			got := string(out.Output)
			if out.Status != "success" {
				got = out.Error
			}
			if out.Status != c.status || !strings.Contains(got, c.want) {
				t.Fatalf("status %s, %q; want %s containing %q (logs %v)", out.Status, got, c.status, c.want, out.Logs)
			}
			t.Logf("%s: %s in %v", c.name, out.Status, time.Since(started).Round(time.Millisecond))
		})
	}
	// After all of that, a plain run still works.
	out, err := p.Run(context.Background(), job(t, `export default async () => 1`, 1000, nil))
	if err != nil || out.Status != "success" || string(out.Output) != "1" {
		t.Fatalf("after the limits: %v %+v", err, out)
	}
}

// TestNestedRunsShareTheWorker: a run started while another waits on a call runs on
// the same worker, so nested hooks cannot exhaust the pool.
func TestNestedRunsShareTheWorker(t *testing.T) {
	p := &Pool{Max: 1}
	defer p.Close()
	var calls Calls
	calls = func(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
		if Depth(ctx) >= 3 {
			return json.RawMessage(`"bottom"`), nil
		}
		out, err := p.Run(ctx, job(t, `export default async function (ctx) { return "in:" + (await ctx.items("t").readMany({})) }`, 2000, calls))
		if err != nil {
			return nil, err
		}
		if out.Status != "success" {
			return nil, apierr.New(500, "FUNCTION_FAILED", "%s", out.Error)
		}
		return out.Output, nil
	}
	out, err := p.Run(context.Background(), job(t, `export default async function (ctx) { return await ctx.items("t").readMany({}) }`, 2000, calls))
	if err != nil || out.Status != "success" || string(out.Output) != `"in:in:bottom"` {
		t.Fatalf("nested: %v %+v", err, out)
	}
}

// jobsOn waits until the pool's only worker holds n jobs.
func jobsOn(t *testing.T, p *Pool, n int) {
	t.Helper()
	for range 500 {
		p.mu.Lock()
		ok := len(p.workers) == 1 && p.workers[0].jobs == n
		p.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("the worker never held %d jobs", n)
}

// TestQueuedRuns: with every worker busy, runs queue behind the one under way, also
// while it waits on a call, and each gets its own answer.
func TestQueuedRuns(t *testing.T) {
	p := &Pool{Max: 1}
	defer p.Close()
	queued := make(chan *sandbox.Outcome, 1)
	calls := func(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
		// A run that is not nested in this one arrives while it waits.
		go func() {
			out, err := p.Run(context.Background(), job(t, `export default async (ctx) => "queued " + ctx.input.n`, 5000, nil))
			if err != nil {
				out = &sandbox.Outcome{Status: "error", Error: err.Error()}
			}
			queued <- out
		}()
		jobsOn(t, p, 2)
		time.Sleep(20 * time.Millisecond) // its frame reaches the worker before this answer
		return json.RawMessage(`"answer"`), nil
	}
	out, err := p.Run(context.Background(), job(t, `export default async (ctx) => "first " + await ctx.items("t").readMany({})`, 5000, calls))
	if err != nil || out.Status != "success" || string(out.Output) != `"first answer"` {
		t.Fatalf("the run under way: %v %+v", err, out)
	}
	if q := <-queued; q.Status != "success" || string(q.Output) != `"queued 2"` {
		t.Fatalf("the queued run: %+v", q)
	}
	// Many at once on one worker: each answer goes to its own run.
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			j := job(t, `export default async (ctx) => ctx.input`, 5000, nil)
			j.Input, _ = json.Marshal(sandbox.Input{Trigger: "manual", Input: json.RawMessage(fmt.Sprint(i))})
			out, err := p.Run(context.Background(), j)
			if err == nil && (out.Status != "success" || string(out.Output) != fmt.Sprint(i)) {
				err = fmt.Errorf("run %d answered %+v", i, out)
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestQueuedRunOutlivesItsWorker: a run queued behind one that goes over its memory is
// not lost with the worker, which leaves: it runs on a fresh one.
func TestQueuedRunOutlivesItsWorker(t *testing.T) {
	p := &Pool{Max: 1}
	defer p.Close()
	queued := make(chan *sandbox.Outcome, 1)
	var first []*worker
	calls := func(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
		first = p.workersNow()
		go func() {
			out, err := p.Run(context.Background(), job(t, `export default async () => "after"`, 20000, nil))
			if err != nil {
				out = &sandbox.Outcome{Status: "error", Error: err.Error()}
			}
			queued <- out
		}()
		jobsOn(t, p, 2)
		return json.RawMessage(`null`), nil
	}
	out, err := p.Run(context.Background(), job(t, `export default async (ctx) => { await ctx.items("t").readMany({}); const a = []; for (;;) a.push("x".repeat(1024) + a.length) }`, 20000, calls))
	if err != nil || out.Status != "memory" {
		t.Fatalf("the run over its memory: %v %+v", err, out)
	}
	if q := <-queued; q.Status != "success" || string(q.Output) != `"after"` {
		t.Fatalf("the run queued behind it: %+v", q)
	}
	if now := p.workersNow(); len(now) != 1 || len(first) != 1 || now[0] == first[0] {
		t.Fatalf("workers before %v, after %v: the one over its memory should be gone", first, now)
	}
}

func (p *Pool) workersNow() []*worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.workers)
}

// BenchmarkRun is one trivial run on a warm worker: the node's side, the pipe both
// ways and the engine.
func BenchmarkRun(b *testing.B) {
	p := &Pool{Max: 1}
	defer p.Close()
	t := &testing.T{}
	j := job(t, `export default async (ctx) => ({message: "hello", n: ctx.input.n})`, 5000, nil)
	b.ResetTimer()
	for range b.N {
		j.Limits.StartedAt = time.Now().UnixMilli()
		out, err := p.Run(context.Background(), j)
		if err != nil || out.Status != "success" {
			b.Fatal(err, out)
		}
	}
}
