package bus

import (
	"context"
	"encoding/json"
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
}

// NewPostgres connects to the PostgreSQL database at url and listens on its channel
// (DefaultChannel, or the url's channel parameter) before it returns, so nothing
// published afterwards is missed.
func NewPostgres(ctx context.Context, url string, log *slog.Logger) (*Postgres, error) {
	return newPostgres(ctx, url, log, 30*time.Second)
}

func newPostgres(ctx context.Context, url string, log *slog.Logger, idle time.Duration) (*Postgres, error) {
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
	p := &Postgres{channel: channel, log: log, listen: listen, pub: pub, ctx: lctx, cancel: cancel, done: make(chan struct{}), idle: idle}
	conn, err := p.connect(ctx)
	if err != nil {
		cancel()
		pub.Close()
		return nil, fmt.Errorf("bus: listen on postgres: %w", err)
	}
	go p.run(conn)
	return p, nil
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
	for attempt := 0; ; {
		if conn == nil {
			if !sleep(p.ctx, backoff(attempt)) {
				return
			}
			attempt++
			c, err := p.connect(p.ctx)
			if err != nil {
				if p.ctx.Err() == nil {
					p.log.Warn("bus: cannot listen on postgres; retrying", "attempt", attempt, "err", err)
				}
				continue
			}
			conn, attempt = c, 0
			p.log.Info("bus: listening on postgres again; dropping caches")
			p.deliver(Message{Topic: TopicResync})
		}
		err := p.receive(conn)
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
		conn = nil
		if p.ctx.Err() != nil {
			return
		}
		p.log.Warn("bus: lost the postgres listening connection; reconnecting", "err", err)
	}
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
		var m Message
		if err := json.Unmarshal([]byte(n.Payload), &m); err != nil {
			p.log.Warn("bus: dropped a message that is not a bus message", "channel", n.Channel, "err", err)
			continue
		}
		p.deliver(m)
	}
}

// Publish sends m with NOTIFY; it returns once the notification is committed.
func (p *Postgres) Publish(ctx context.Context, m Message) error {
	b, err := encode(m)
	if err != nil {
		return err
	}
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	if _, err := p.pub.Exec(ctx, "SELECT pg_notify($1, $2)", p.channel, string(b)); err != nil {
		return fmt.Errorf("bus: notify %s: %w", m.Topic, err)
	}
	return nil
}

// Close stops listening and closes the connections.
func (p *Postgres) Close() error {
	p.once.Do(func() {
		p.cancel()
		<-p.done
		p.pub.Close()
	})
	return nil
}

// listenerPID is the process id of the backend that listens now.
func (p *Postgres) listenerPID() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}
