package web

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bazaarhq/bazaar/internal/postgres"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus instruments, labelled by route
// pattern (never by raw path, which would explode cardinality).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series remembers each seriesKey's children: WithLabelValues hashes
	// the label values and takes the vector's lock on every call, a
	// tenth of observe's cost per request. Bounded as the labels are.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	method, route string
	code          int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bazaar_http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bazaar_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe counts one request. Every label value comes from a fixed set, so
// no client can grow the series without bound: the method is one of the
// standard ones or "OTHER", the route a registered pattern or "unmatched",
// the code a status this server wrote.
func (m *metrics) observe(method, route string, status int, d time.Duration) {
	k := seriesKey{methodLabel(method), route, status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(k.method, route, strconv.Itoa(status)),
			duration: m.duration.WithLabelValues(route),
		})
	}
	s := v.(*series)
	s.requests.Inc()
	s.duration.Observe(d.Seconds())
}

// methodLabel returns method if it is one of HTTP's standard methods and
// "OTHER" for anything else a client may have typed.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// registerSessionCache exports the figures of db's session cache
// (postgres.SessionCacheStats), read at each scrape.
func registerSessionCache(reg prometheus.Registerer, db *postgres.DB) {
	gauge := func(name, help string, v func(postgres.SessionCacheStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return v(db.SessionCacheStats()) })
	}
	counter := func(name, help string, v func(postgres.SessionCacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(db.SessionCacheStats())) })
	}
	reg.MustRegister(
		gauge("bazaar_session_cache_live", "1 while the session cache hears of changes and is in use, 0 while it is off.",
			func(s postgres.SessionCacheStats) float64 {
				if s.Live {
					return 1
				}
				return 0
			}),
		gauge("bazaar_session_cache_entries", "Sessions held by the session cache.", func(s postgres.SessionCacheStats) float64 { return float64(s.Entries) }),
		gauge("bazaar_session_cache_max_entries", "The session cache's size limit.", func(s postgres.SessionCacheStats) float64 { return float64(s.Max) }),
		counter("bazaar_session_cache_hits_total", "Sessions read from the session cache instead of the database.", func(s postgres.SessionCacheStats) uint64 { return s.Hits }),
		counter("bazaar_session_cache_misses_total", "Session lookups the session cache could not answer while in use.", func(s postgres.SessionCacheStats) uint64 { return s.Misses }),
	)
}
