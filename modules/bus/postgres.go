package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the bus of nodes that share a PostgreSQL control database: messages go
// out with NOTIFY on one channel and come in on a dedicated LISTEN connection. NOTIFY
// is delivered at commit, in commit order, to every listening session (the
// publisher's own included), and is lost for a session that is not listening then:
// after the listening connection comes back, subscribers get a TopicResync.
type Postgres struct {
	fanout
	channel string
	seal    *Seal
	log     *slog.Logger
	listen  *pgx.ConnConfig
	pub     *pgxpool.Pool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	// idle is how long the listener waits for a message before it checks that its
	// connection still answers: a server that vanished without closing the socket
	// would otherwise leave the node deaf until TCP gives up.
	idle time.Duration

	mu  sync.Mutex
	pid uint32 // of the listening backend, for tests that kill it

	// Publishing goes through one sender that packs what is waiting into one NOTIFY:
	// every NOTIFY commit takes a lock shared by the whole cluster, so one per event
	// queues up under load (a 1,000-subscriber benchmark saw a second's delay).
	out      chan []byte
	outMu    sync.RWMutex
	outDone  chan struct{}
	shutting bool
}

// NewPostgres connects to the PostgreSQL database at url and listens on its channel
// (DefaultChannel, or the url's channel parameter) before it returns, so nothing
// published afterwards is missed. What it sends is sealed with seal, and what it
// receives unsealed is dropped: any session of the database can NOTIFY.
func NewPostgres(ctx context.Context, url string, seal *Seal, log *slog.Logger) (*Postgres, error) {
	return newPostgres(ctx, url, seal, log, 30*time.Second)
}

func newPostgres(ctx context.Context, url string, seal *Seal, log *slog.Logger, idle time.Duration) (*Postgres, error) {
	if seal == nil {
		return nil, errors.New("bus: postgres transport without a seal")
	}
	url, channel, err := channelOf(url)
	if err != nil {
		return nil, err
	}
	listen, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("bus: parse postgres url: %w", err)
	}
	listen.RuntimeParams["application_name"] = "strata bus"
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("bus: parse postgres url: %w", err)
	}
	// Publishing is one short statement; a few connections carry a node's events.
	pcfg.MaxConns = 4
	pcfg.MaxConnIdleTime = time.Minute
	pcfg.ConnConfig.RuntimeParams["application_name"] = "strata bus"
	pub, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("bus: postgres publishing pool: %w", err)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Postgres{channel: channel, seal: seal, log: log, listen: listen, pub: pub, ctx: lctx, cancel: cancel, done: make(chan struct{}), idle: idle,
		out: make(chan []byte, 8192), outDone: make(chan struct{})}
	conn, err := p.connect(ctx)
	if err != nil {
		cancel()
		pub.Close()
		return nil, fmt.Errorf("bus: listen on postgres: %w", err)
	}
	go p.run(conn)
	go p.send()
	return p, nil
}

// send publishes what Publish queued, several messages to a NOTIFY when several wait
// (as a JSON array, within the payload limit), in the order they were published.
func (p *Postgres) send() {
	defer close(p.outDone)
	var batch [][]byte
	for first := range p.out {
		batch = append(batch[:0], first)
		size := len(first) + 2
	fill:
		for {
			select {
			case next, ok := <-p.out:
				if !ok {
					break fill
				}
				if size+len(next)+1 > maxEnvelope {
					p.notify(batch)
					batch, size = append(batch[:0], next), len(next)+2
					continue
				}
				batch = append(batch, next)
				size += len(next) + 1
			default:
				break fill
			}
		}
		p.notify(batch)
	}
}

func (p *Postgres) notify(batch [][]byte) {
	payload := batch[0]
	if len(batch) > 1 {
		payload = append(append([]byte{'['}, bytes.Join(batch, []byte{','})...), ']')
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), 10*time.Second)
	defer cancel()
	if _, err := p.pub.Exec(ctx, "SELECT pg_notify($1, $2)", p.channel, string(p.seal.seal(p.channel, payload))); err != nil {
		// Lost for the other nodes: their caches' TTL and the realtime clients'
		// next events catch up. The publisher's caller has long gone.
		p.log.Warn("bus: notify failed; messages lost", "messages", len(batch), "err", err)
	}
}

func (p *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, p.listen.Copy())
	if err != nil {
		return nil, err
	}
	// LISTEN takes no parameters; the channel is an identifier and quoted as one.
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{p.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	p.mu.Lock()
	p.pid = conn.PgConn().PID()
	p.mu.Unlock()
	return conn, nil
}

// run receives until Close, reconnecting with backoff whenever the connection drops.
func (p *Postgres) run(conn *pgx.Conn) {
	defer close(p.done)
	stayConnected(p.ctx, p.log, "postgres listening connection", conn, p.connect, p.receive,
		func(conn *pgx.Conn) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = conn.Close(ctx)
		},
		func() { p.deliver(Message{Topic: TopicResync}) })
}

// receive delivers notifications until the connection fails or the bus closes.
func (p *Postgres) receive(conn *pgx.Conn) error {
	for {
		ctx, cancel := context.WithTimeout(p.ctx, p.idle)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		switch {
		case p.ctx.Err() != nil:
			return p.ctx.Err()
		case err != nil && pgconn.Timeout(err):
			// A wait cut short by its deadline leaves the connection usable.
			ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
			err = conn.Ping(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
			continue
		case err != nil:
			return err
		}
		p.deliverPayload(p.log, p.seal, n.Channel, []byte(n.Payload))
	}
}

// Publish sends m with NOTIFY; it returns once the notification is committed.
func (p *Postgres) Publish(ctx context.Context, m Message) error {
	b, err := encode(m)
	if err != nil {
		return err
	}
	p.outMu.RLock()
	defer p.outMu.RUnlock()
	if p.shutting || p.ctx.Err() != nil {
		return ErrClosed
	}
	select {
	case p.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops listening and closes the connections.
func (p *Postgres) Close() error {
	p.once.Do(func() {
		// What was published goes out first.
		p.outMu.Lock()
		p.shutting = true
		close(p.out)
		p.outMu.Unlock()
		<-p.outDone
		p.cancel()
		<-p.done
		p.pub.Close()
	})
	return nil
}

// Rejected counts the payloads received that were not sealed by this cluster.
func (p *Postgres) Rejected() uint64 { return p.seal.Rejected() }

// listenerPID is the process id of the backend that listens now.
func (p *Postgres) listenerPID() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}
