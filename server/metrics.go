package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// mountMetrics serves the registry at /metrics: on the API's port unless
// STRATA_METRICS_ADDR gives it a listener of its own (ServeMetrics), and behind
// STRATA_METRICS_TOKEN when one is set. Metrics name tenants' traffic and the node's
// internals, so an open /metrics on a public port is logged as a warning.
func mountMetrics(app *fiber.App, reg *prometheus.Registry, cfg Config, log *slog.Logger) http.Handler {
	h := metricsHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), cfg.MetricsToken)
	if cfg.MetricsAddr != "" {
		return h
	}
	if cfg.MetricsToken == "" {
		log.Warn("/metrics is open to anyone who reaches STRATA_HTTP; set STRATA_METRICS_TOKEN or STRATA_METRICS_ADDR", "addr", cfg.HTTP)
	}
	app.Get("/metrics", adaptor.HTTPHandler(h))
	return h
}

// metricsHandler lets through only requests with "Authorization: Bearer <token>" when
// token is set. Both sides are hashed before the constant-time comparison, so neither
// the token's bytes nor its length show in the time of a refusal.
func metricsHandler(next http.Handler, token string) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "a metrics token is required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeMetrics serves /metrics alone on ln (STRATA_METRICS_ADDR) until Close.
func (a *App) ServeMetrics(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.metricsSrv.Store(srv)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// closeMetrics stops ServeMetrics, if it runs.
func (a *App) closeMetrics() {
	if srv := a.metricsSrv.Load(); srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}
