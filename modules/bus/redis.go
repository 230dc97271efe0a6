package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the bus of nodes that share a Redis server: PUBLISH on one channel, and a
// subscription on a connection of its own. Like NOTIFY, pub/sub keeps nothing for a
// subscriber that is away: after the subscription comes back, subscribers get a
// TopicResync.
type Redis struct {
	fanout
	channel string
	seal    *Seal
	log     *slog.Logger
	client  *redis.Client
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	idle    time.Duration // as Postgres.idle

	mu sync.Mutex
	ps *redis.PubSub // the subscription now; Close closes it to end a wait
}

// NewRedis connects to the Redis server at url (redis:// or rediss://) and subscribes
// to its channel (DefaultChannel, or the url's channel parameter) before it returns.
// What it sends is sealed with seal, and what it receives unsealed is dropped.
func NewRedis(ctx context.Context, url string, seal *Seal, log *slog.Logger) (*Redis, error) {
	return newRedis(ctx, url, seal, log, 30*time.Second)
}

func newRedis(ctx context.Context, url string, seal *Seal, log *slog.Logger, idle time.Duration) (*Redis, error) {
	if seal == nil {
		return nil, errors.New("bus: redis transport without a seal")
	}
	url, channel, err := channelOf(url)
	if err != nil {
		return nil, err
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("bus: parse redis url: %w", err)
	}
	// Named after the channel, so CLIENT LIST tells the clusters on one server apart.
	opt.ClientName = "strata-bus:" + channel
	client := redis.NewClient(opt)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Redis{channel: channel, seal: seal, log: log, client: client, ctx: rctx, cancel: cancel, done: make(chan struct{}), idle: idle}
	ps, err := r.subscribe(ctx)
	if err != nil {
		cancel()
		_ = client.Close()
		return nil, fmt.Errorf("bus: subscribe on redis: %w", err)
	}
	go r.run(ps)
	return r, nil
}

// subscribe returns once the server has confirmed the subscription, so a message
// published after it is received.
func (r *Redis) subscribe(ctx context.Context) (*redis.PubSub, error) {
	ps := r.client.Subscribe(ctx, r.channel)
	if _, err := ps.ReceiveTimeout(ctx, 10*time.Second); err != nil {
		_ = ps.Close()
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		_ = ps.Close()
		return nil, ErrClosed
	}
	r.ps = ps
	return ps, nil
}

// run receives until Close, subscribing again with backoff whenever the connection
// drops.
func (r *Redis) run(ps *redis.PubSub) {
	defer close(r.done)
	stayConnected(r.ctx, r.log, "redis subscription", ps, r.subscribe, r.receive,
		func(ps *redis.PubSub) { _ = ps.Close() },
		func() { r.deliver(Message{Topic: TopicResync}) })
}

// receive delivers messages until the connection fails or the bus closes.
func (r *Redis) receive(ps *redis.PubSub) error {
	for {
		msg, err := ps.ReceiveTimeout(r.ctx, r.idle)
		var ne net.Error
		switch {
		case r.ctx.Err() != nil:
			return r.ctx.Err()
		case errors.As(err, &ne) && ne.Timeout():
			// The answer comes back as a *redis.Pong; a dead connection fails here or on
			// the next read.
			if err := ps.Ping(r.ctx); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
			continue
		case err != nil:
			return err
		}
		switch x := msg.(type) {
		case *redis.Message:
			r.deliverPayload(r.log, r.seal, x.Channel, []byte(x.Payload))
		case *redis.Subscription:
			// go-redis subscribes again by itself on a new connection when a read fails
			// in a way it recovers from; what was published in between is lost.
			if x.Kind == "subscribe" {
				r.log.Info("bus: redis subscription renewed; dropping caches")
				r.deliver(Message{Topic: TopicResync})
			}
		}
	}
}

// Publish sends m with PUBLISH; it returns once the server has taken it.
func (r *Redis) Publish(ctx context.Context, m Message) error {
	b, err := encode(m)
	if err != nil {
		return err
	}
	if r.ctx.Err() != nil {
		return ErrClosed
	}
	if err := r.client.Publish(ctx, r.channel, r.seal.seal(r.channel, b)).Err(); err != nil {
		return fmt.Errorf("bus: publish %s: %w", m.Topic, err)
	}
	return nil
}

// Rejected counts the payloads received that were not sealed by this cluster.
func (r *Redis) Rejected() uint64 { return r.seal.Rejected() }

// Close ends the subscription and closes the client.
func (r *Redis) Close() error {
	r.once.Do(func() {
		r.mu.Lock()
		r.cancel()
		if r.ps != nil {
			_ = r.ps.Close()
		}
		r.mu.Unlock()
		<-r.done
		_ = r.client.Close()
	})
	return nil
}
