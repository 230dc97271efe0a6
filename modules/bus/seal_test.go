package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// testKey is the cluster key of the tests' transports: every node of a test shares it.
var testKey = DeriveKey([]byte("test-secret-test-secret-test-secret!!"))

// testSeal is one node's seal (each node remembers the nonces it accepted).
func testSeal(t testing.TB) *Seal {
	t.Helper()
	s, err := NewSeal(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSeal(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s *Seal) *Seal { s.now = func() time.Time { return now }; return s }
	sender, receiver := at(testSeal(t)), at(testSeal(t))
	body := []byte(`{"t":"throttle","d":{"failed":true,"keys":["a00"]},"o":"node-a"}`)
	frame := sender.seal("strata_bus", body)
	if len(frame) > len(body)+sealOverhead {
		t.Fatalf("seal added %d bytes, more than sealOverhead %d", len(frame)-len(body), sealOverhead)
	}
	got, err := receiver.open("strata_bus", frame)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("open: %q %v", got, err)
	}

	other, _ := NewSeal(DeriveKey([]byte("another-secret-another-secret-12345")))
	other.now = sender.now
	tampered := bytes.Replace(bytes.Clone(frame), []byte(`"failed":true`), []byte(`"failed":fals`), 1)
	for name, c := range map[string]struct {
		channel string
		frame   []byte
		skew    time.Duration
	}{
		"unsealed":              {channel: "strata_bus", frame: body},
		"replayed":              {channel: "strata_bus", frame: frame},
		"another key":           {channel: "strata_bus", frame: other.seal("strata_bus", body)},
		"body changed":          {channel: "strata_bus", frame: tampered},
		"another channel":       {channel: "other_bus", frame: sender.seal("strata_bus", body)},
		"older than MaxAge":     {channel: "strata_bus", frame: sender.seal("strata_bus", body), skew: DefaultMaxAge + time.Second},
		"from too far ahead":    {channel: "strata_bus", frame: sender.seal("strata_bus", body), skew: -DefaultMaxAge - time.Second},
		"seal of an empty body": {channel: "strata_bus", frame: []byte("b1.1.x.y.")},
	} {
		t.Run(name, func(t *testing.T) {
			r := testSeal(t)
			if name == "replayed" {
				r = receiver
			}
			r.now = func() time.Time { return now.Add(c.skew) }
			before := r.Rejected()
			if got, err := r.open(c.channel, c.frame); err == nil {
				t.Fatalf("accepted: %q", got)
			}
			if r.Rejected() != before+1 {
				t.Fatalf("rejected %d, want %d", r.Rejected(), before+1)
			}
		})
	}

	// The nonces of frames too old to be accepted anyway are forgotten.
	now = now.Add(2 * DefaultMaxAge)
	if _, err := receiver.open("strata_bus", sender.seal("strata_bus", body)); err != nil {
		t.Fatal(err)
	}
	if len(receiver.seen) != 1 {
		t.Fatalf("%d nonces remembered, want 1", len(receiver.seen))
	}
	if _, err := NewSeal([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// TestTransportsDropForgeries: a payload written to the channel by anyone but a node
// of the cluster (pg_notify from any session of the database, PUBLISH from any Redis
// client) is dropped and counted; the cluster's own messages still arrive.
func TestTransportsDropForgeries(t *testing.T) {
	forged, _ := json.Marshal(Message{Topic: TopicItems, Tenant: "forged", Data: json.RawMessage(`{"i":1}`), Origin: "forger"})
	for _, tr := range transports() {
		if !tr.cluster {
			continue
		}
		t.Run(tr.name, func(t *testing.T) {
			channel := unique("strata_test_")
			b := tr.open(t, channel, 30*time.Second)
			in := listen(b, "forged")
			ctx := context.Background()
			switch tr.name {
			case "postgres":
				conn, err := pgx.Connect(ctx, os.Getenv("STRATA_TEST_POSTGRES_URL"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				for _, p := range []string{string(forged), "[" + string(forged) + "]"} {
					if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", channel, p); err != nil {
						t.Fatal(err)
					}
				}
			case "redis":
				opt, _ := redis.ParseURL(os.Getenv("STRATA_TEST_REDIS_URL"))
				c := redis.NewClient(opt)
				defer c.Close()
				for _, p := range []string{string(forged), "[" + string(forged) + "]"} {
					if err := c.Publish(ctx, channel, p).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for b.(interface{ Rejected() uint64 }).Rejected() < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("rejected %d payloads, want 2", b.(interface{ Rejected() uint64 }).Rejected())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := b.Publish(ctx, Message{Topic: TopicItems, Tenant: "forged", Data: json.RawMessage(`{"i":2}`), Origin: "node"}); err != nil {
				t.Fatal(err)
			}
			if m := in.nextOf(t, TopicItems); m.Origin != "node" {
				t.Fatalf("delivered a forgery: %+v", m)
			}
		})
	}
}
