package bus

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strata/internal/testkit"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func quiet() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func unique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// serverURL returns a test server's URL from the environment, skipping the test when
// it is unset (failing in CI, where every leg must run).
func serverURL(t testing.TB, env string) string { return testkit.NeedURL(t, env) }

func withChannel(base, channel string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "channel=" + channel
}

// transport opens buses of one kind that reach each other: two "nodes" of a cluster.
type transport struct {
	name string
	// open makes a node on channel; idle is the transport's idle check interval.
	open func(t testing.TB, channel string, idle time.Duration) Bus
	// cut breaks node b's receiving connection from the server's side (nil for Local),
	// and reports whether it broke those of every node on b's channel too.
	cut func(t *testing.T, b Bus) (all bool)
	// cluster reports whether two opened buses reach each other (Local: no).
	cluster bool
}

func transports() []transport {
	return []transport{
		{name: "local", open: func(t testing.TB, _ string, _ time.Duration) Bus {
			l := NewLocal()
			t.Cleanup(func() { _ = l.Close() })
			return l
		}},
		{name: "postgres", cluster: true, open: func(t testing.TB, channel string, idle time.Duration) Bus {
			p, err := newPostgres(context.Background(), withChannel(serverURL(t, "STRATA_TEST_POSTGRES_URL"), channel), testSeal(t), quiet(), idle)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			return p
		}, cut: func(t *testing.T, b Bus) bool {
			pid := b.(*Postgres).listenerPID()
			conn, err := pgx.Connect(context.Background(), os.Getenv("STRATA_TEST_POSTGRES_URL"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var ok bool
			if err := conn.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", int(pid)).Scan(&ok); err != nil || !ok {
				t.Fatalf("terminate the listening backend %d: %v %v", pid, ok, err)
			}
			return false
		}},
		{name: "redis", cluster: true, open: func(t testing.TB, channel string, idle time.Duration) Bus {
			r, err := newRedis(context.Background(), withChannel(serverURL(t, "STRATA_TEST_REDIS_URL"), channel), testSeal(t), quiet(), idle)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			return r
		}, cut: func(t *testing.T, b Bus) bool {
			// CLIENT KILL TYPE pubsub, narrowed to this test's channel so that tests
			// running beside it keep their subscriptions.
			r := b.(*Redis)
			opt, _ := redis.ParseURL(os.Getenv("STRATA_TEST_REDIS_URL"))
			admin := redis.NewClient(opt)
			defer admin.Close()
			ctx := context.Background()
			list, err := admin.ClientList(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			killed := 0
			sc := bufio.NewScanner(strings.NewReader(list))
			for sc.Scan() {
				f := map[string]string{}
				for _, kv := range strings.Fields(sc.Text()) {
					k, v, _ := strings.Cut(kv, "=")
					f[k] = v
				}
				if f["name"] == "strata-bus:"+r.channel && strings.Contains(f["flags"], "P") {
					if err := admin.Do(ctx, "CLIENT", "KILL", "ID", f["id"]).Err(); err != nil {
						t.Fatal(err)
					}
					killed++
				}
			}
			if killed == 0 {
				t.Fatal("no pubsub connection to kill")
			}
			return true
		}},
	}
}

// inbox collects what one node receives for one test tenant, and its resyncs.
type inbox struct {
	ch chan Message
}

func listen(b Bus, tenant string) *inbox {
	in := &inbox{ch: make(chan Message, 10000)}
	b.Subscribe(func(m Message) {
		if m.Tenant == tenant || m.Topic == TopicResync {
			select {
			case in.ch <- m:
			default: // the test fails on what it misses
			}
		}
	})
	return in
}

func (in *inbox) next(t testing.TB) Message {
	t.Helper()
	select {
	case m := <-in.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return Message{}
	}
}

// nextOf skips resyncs (a test that does not cut connections may still see one).
func (in *inbox) nextOf(t testing.TB, topic string) Message {
	t.Helper()
	for {
		if m := in.next(t); m.Topic == topic {
			return m
		}
	}
}

func (in *inbox) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-in.ch:
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(d):
	}
}

func seqMessage(t testing.TB, tenant, origin string, i int) Message {
	m, err := NewMessage(TopicItems, tenant, map[string]int{"i": i})
	if err != nil {
		t.Fatal(err)
	}
	m.Origin = origin
	return m
}

func seqOf(t *testing.T, m Message) int {
	var d struct{ I int }
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("decode %s: %v", m.Data, err)
	}
	return d.I
}

func pair(t testing.TB, tr transport, idle time.Duration) (a, b Bus) {
	channel := unique("strata_test_")
	a = tr.open(t, channel, idle)
	b = a
	if tr.cluster {
		b = tr.open(t, channel, idle)
	}
	return a, b
}

func TestTransports(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("every node receives, the publisher too", func(t *testing.T) {
				a, b := pair(t, tr, 30*time.Second)
				tenant := unique("t")
				ina, inb := listen(a, tenant), listen(b, tenant)
				want := Message{Topic: TopicSchema, Tenant: tenant, Data: json.RawMessage(`{"version":7}`), Origin: "node-a"}
				if err := a.Publish(context.Background(), want); err != nil {
					t.Fatal(err)
				}
				for _, in := range []*inbox{ina, inb} {
					got := in.nextOf(t, TopicSchema)
					if got.Tenant != want.Tenant || string(got.Data) != string(want.Data) || got.Origin != want.Origin {
						t.Fatalf("got %+v, want %+v", got, want)
					}
				}
			})

			t.Run("order per publisher", func(t *testing.T) {
				a, b := pair(t, tr, 30*time.Second)
				tenant := unique("t")
				ina, inb := listen(a, tenant), listen(b, tenant)
				const n = 300
				var wg sync.WaitGroup
				errs := make(chan error, 2)
				for _, p := range []struct {
					bus    Bus
					origin string
				}{{a, "a"}, {b, "b"}} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range n {
							if err := p.bus.Publish(context.Background(), seqMessage(t, tenant, p.origin, i)); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				for name, in := range map[string]*inbox{"a": ina, "b": inb} {
					next := map[string]int{}
					for range 2 * n {
						m := in.nextOf(t, TopicItems)
						if i := seqOf(t, m); i != next[m.Origin] {
							t.Fatalf("node %s: message %d from %s, want %d", name, i, m.Origin, next[m.Origin])
						}
						next[m.Origin]++
					}
				}
			})

			t.Run("payload limit", func(t *testing.T) {
				a, b := pair(t, tr, 30*time.Second)
				tenant := unique("t")
				inb := listen(b, tenant)
				big := `"` + strings.Repeat("x", MaxPayload-1) + `"` // MaxPayload+1 bytes
				err := a.Publish(context.Background(), Message{Topic: TopicItems, Tenant: tenant, Data: json.RawMessage(big)})
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("over MaxPayload: %v, want ErrTooLarge", err)
				}
				most := `"` + strings.Repeat("x", MaxPayload-2) + `"`
				if err := a.Publish(context.Background(), Message{Topic: TopicItems, Tenant: tenant, Data: json.RawMessage(most), Origin: unique("")}); err != nil {
					t.Fatalf("MaxPayload exactly: %v", err)
				}
				if got := inb.nextOf(t, TopicItems); len(got.Data) != MaxPayload {
					t.Fatalf("received %d bytes, want %d", len(got.Data), MaxPayload)
				}
			})

			t.Run("close", func(t *testing.T) {
				a, b := pair(t, tr, 30*time.Second)
				tenant := unique("t")
				inb := listen(b, tenant)
				if err := a.Publish(context.Background(), seqMessage(t, tenant, "a", 0)); err != nil {
					t.Fatal(err)
				}
				// Local delivers what was queued before Close; the others received it.
				inb.nextOf(t, TopicItems)
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				if err := b.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				if err := b.Publish(context.Background(), seqMessage(t, tenant, "b", 1)); !errors.Is(err, ErrClosed) {
					t.Fatalf("publish after Close: %v, want ErrClosed", err)
				}
				if a != b {
					if err := a.Publish(context.Background(), seqMessage(t, tenant, "a", 2)); err != nil {
						t.Fatal(err)
					}
				}
				inb.quiet(t, 300*time.Millisecond)
			})

			t.Run("unsubscribe", func(t *testing.T) {
				a, _ := pair(t, tr, 30*time.Second)
				tenant := unique("t")
				var mu sync.Mutex
				var order []string
				got := make(chan struct{}, 10)
				stop := a.Subscribe(func(m Message) {
					if m.Tenant == tenant {
						mu.Lock()
						order = append(order, "first")
						mu.Unlock()
					}
				})
				a.Subscribe(func(m Message) {
					if m.Tenant == tenant {
						mu.Lock()
						order = append(order, "second")
						mu.Unlock()
						got <- struct{}{}
					}
				})
				for i := range 2 {
					if err := a.Publish(context.Background(), seqMessage(t, tenant, "a", i)); err != nil {
						t.Fatal(err)
					}
					select {
					case <-got:
					case <-time.After(10 * time.Second):
						t.Fatal("not delivered")
					}
					stop()
				}
				mu.Lock()
				defer mu.Unlock()
				if fmt.Sprint(order) != "[first second second]" {
					t.Fatalf("deliveries %v: subscribers in the order they subscribed, none after unsubscribe", order)
				}
			})

			if tr.cut == nil {
				return
			}
			t.Run("reconnect delivers resync", func(t *testing.T) {
				// A short idle interval also runs the idle check (ping) many times.
				a, b := pair(t, tr, 100*time.Millisecond)
				tenant := unique("t")
				ina, inb := listen(a, tenant), listen(b, tenant)
				time.Sleep(350 * time.Millisecond) // a few idle checks, nothing lost
				if err := a.Publish(context.Background(), seqMessage(t, tenant, "a", 0)); err != nil {
					t.Fatal(err)
				}
				if m := inb.next(t); m.Topic != TopicItems {
					t.Fatalf("got %+v before any cut", m)
				}
				ina.nextOf(t, TopicItems)
				all := tr.cut(t, b)
				if m := inb.next(t); m.Topic != TopicResync || m.Tenant != "" {
					t.Fatalf("after the cut: %+v, want a resync", m)
				}
				if all {
					if m := ina.next(t); m.Topic != TopicResync {
						t.Fatalf("node a after the cut: %+v, want a resync", m)
					}
				}
				for i := 1; i <= 3; i++ {
					if err := a.Publish(context.Background(), seqMessage(t, tenant, "a", i)); err != nil {
						t.Fatal(err)
					}
					if m := inb.nextOf(t, TopicItems); seqOf(t, m) != i {
						t.Fatalf("after the resync: %+v, want message %d", m, i)
					}
				}
				// b publishes again too: its publishing connections are its own.
				if err := b.Publish(context.Background(), seqMessage(t, tenant, "b", 9)); err != nil {
					t.Fatal(err)
				}
				for ina.nextOf(t, TopicItems).Origin != "b" {
				}
			})
		})
	}
}

func TestChannelParameter(t *testing.T) {
	for _, c := range []struct {
		url, rest, channel string
		bad                bool
	}{
		{url: "postgres://u@h/db?sslmode=disable", rest: "postgres://u@h/db?sslmode=disable", channel: DefaultChannel},
		{url: "redis://h:6379/0?channel=prod.bus", rest: "redis://h:6379/0", channel: "prod.bus"},
		{url: "postgres://u@h/db?channel=a_b&sslmode=disable", rest: "postgres://u@h/db?sslmode=disable", channel: "a_b"},
		{url: "redis://h/0?channel=", bad: true},
		{url: "redis://h/0?channel=has%20space", bad: true},
		{url: "redis://h/0?channel=" + strings.Repeat("c", 64), bad: true},
	} {
		rest, channel, err := channelOf(c.url)
		if c.bad {
			if err == nil {
				t.Errorf("%s: no error", c.url)
			}
			continue
		}
		if err != nil || rest != c.rest || channel != c.channel {
			t.Errorf("%s: %q %q %v, want %q %q", c.url, rest, channel, err, c.rest, c.channel)
		}
	}
}

func TestNodeStampsOrigin(t *testing.T) {
	l := NewLocal()
	defer l.Close()
	n := &Node{Bus: l, ID: "node-1"}
	got := make(chan Message, 2)
	n.Subscribe(func(m Message) { got <- m })
	_ = n.Publish(context.Background(), Message{Topic: TopicItems})
	_ = n.Publish(context.Background(), Message{Topic: TopicItems, Origin: "kept"})
	if m := <-got; m.Origin != "node-1" {
		t.Fatalf("origin %q", m.Origin)
	}
	if m := <-got; m.Origin != "kept" {
		t.Fatalf("origin %q", m.Origin)
	}
}

// Two nodes over each transport: each receives its own messages (in process) and the
// other's (through the transport) exactly once, each node's in its order.
func TestNodeDeliversOwnMessagesOnce(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			a, b := pair(t, tr, 30*time.Second)
			na, nb := NewNode(a, "a"), NewNode(b, "b")
			if tr.cluster {
				defer na.local.Close()
				defer nb.local.Close()
			}
			tenant := unique("t")
			ina, inb := listen(na, tenant), listen(nb, tenant)
			const n = 20
			for i := range n {
				if err := na.Publish(context.Background(), seqMessage(t, tenant, "", i)); err != nil {
					t.Fatal(err)
				}
			}
			for _, in := range []*inbox{ina, inb} {
				for i := range n {
					m := in.nextOf(t, TopicItems)
					if got := seqOf(t, m); got != i || m.Origin != "a" {
						t.Fatalf("message %d: got %d from %q", i, got, m.Origin)
					}
				}
				in.quiet(t, 300*time.Millisecond)
			}
		})
	}
}

// A publish racing Close is refused or dropped, never a panic (it used to send on a
// closed channel).
func TestLocalPublishRacingClose(t *testing.T) {
	for range 50 {
		l := NewLocal()
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					if err := l.Publish(context.Background(), Message{Topic: TopicItems}); err != nil && !errors.Is(err, ErrClosed) {
						t.Error(err)
						return
					}
				}
			}()
		}
		_ = l.Close()
		wg.Wait()
	}
}

// BenchmarkDelivery times a message from Publish on one node to its delivery on another
// (on Local, to its delivery in process), one at a time, and reports the median and the
// 99th percentile besides the mean (ns/op).
func BenchmarkDelivery(b *testing.B) {
	for _, tr := range transports() {
		b.Run(tr.name, func(b *testing.B) {
			pub, sub := pair(b, tr, 30*time.Second)
			tenant := unique("t")
			in := listen(sub, tenant)
			ds := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				if err := pub.Publish(context.Background(), seqMessage(b, tenant, "a", i)); err != nil {
					b.Fatal(err)
				}
				in.nextOf(b, TopicItems)
				ds = append(ds, time.Since(start))
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
		})
	}
}
