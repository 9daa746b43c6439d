package gateway

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ecogate/ecogate/store"
)

// metrics are the node's Prometheus metrics, on a registry of its own so
// that several nodes can live in one process.
type metrics struct {
	reg        *prometheus.Registry
	deliveries *prometheus.CounterVec   // ecogate_deliveries_total{partner,outcome}
	receive    *prometheus.CounterVec   // ecogate_receive_total{partner,outcome}
	suspended  *prometheus.CounterVec   // ecogate_suspended_total{partner}
	enqueued   *prometheus.CounterVec   // ecogate_enqueued_total{partner}
	verifyDur  prometheus.Histogram     // ecogate_verify_duration_seconds
	deliverDur *prometheus.HistogramVec // ecogate_delivery_duration_seconds{partner}
	receiveDur prometheus.Histogram     // ecogate_receive_duration_seconds
}

// Outcome labels of ecogate_deliveries_total besides the receipt outcomes.
const (
	deliveryRetry   = "retry"     // a transient failure; the message waits for its next try
	deliverySuspend = "suspended" // the retry policy is spent
)

func newMetrics(reg *prometheus.Registry, ob Outbox) *metrics {
	m := &metrics{
		reg: reg,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ecogate_deliveries_total",
			Help: "Delivery attempts by partner and outcome (Delivered, DeliveredWithWarnings, DeliveredNotReadable, FailedDelivery, retry, suspended).",
		}, []string{"partner", "outcome"}),
		receive: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ecogate_receive_total",
			Help: "Inbound envelopes by sending partner and outcome (receipt outcomes, duplicate, conflict, refused, too-large, bad-envelope, error).",
		}, []string{"partner", "outcome"}),
		suspended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ecogate_suspended_total",
			Help: "Messages suspended because their retry policy was spent, by partner.",
		}, []string{"partner"}),
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ecogate_enqueued_total",
			Help: "Messages queued in the outbox, by partner.",
		}, []string{"partner"}),
		verifyDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ecogate_verify_duration_seconds",
			Help:    "Time to verify an inbound document's signature and signer trust.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		deliverDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ecogate_delivery_duration_seconds",
			Help:    "Time of one delivery attempt (request, receipt and its verification), by partner.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"partner"}),
		receiveDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ecogate_receive_duration_seconds",
			Help:    "Time to handle one inbound envelope, from body read to receipt (durable store included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	reg.MustRegister(m.deliveries, m.receive, m.suspended, m.enqueued, m.verifyDur, m.deliverDur, m.receiveDur,
		&outboxCollector{ob: ob,
			depth: prometheus.NewDesc("ecogate_outbox_messages", "Outbound messages not yet settled, by partner and state (queued, sending, awaiting-retry, suspended).", []string{"partner", "state"}, nil),
			susp:  prometheus.NewDesc("ecogate_suspended_messages", "Outbound messages currently suspended (retry policy spent; resend with ecogate outbox retry ID).", nil, nil),
			up:    prometheus.NewDesc("ecogate_outbox_up", "1 when the outbox could be read for the metrics above.", nil, nil),
		},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if s, ok := ob.(interface{ DB() *store.DB }); ok && s.DB() != nil {
		reg.MustRegister(newViewIndexCollector(s.DB()))
	}
	return m
}

// viewIndexCollector reads the figures of the store's check view index at
// scrape time (bbolt engine only).
type viewIndexCollector struct {
	db                         *store.DB
	views, bytes, full, misses *prometheus.Desc
}

func newViewIndexCollector(db *store.DB) *viewIndexCollector {
	return &viewIndexCollector{db: db,
		views:  prometheus.NewDesc("ecogate_check_view_index_views", "Customs check views held in memory (dataViewMemoryMiB).", nil, nil),
		bytes:  prometheus.NewDesc("ecogate_check_view_index_bytes", "Memory the check views held in memory take.", nil, nil),
		full:   prometheus.NewDesc("ecogate_check_view_index_full", "1 when a check view did not fit in dataViewMemoryMiB: checks of the views beyond it read the data file (slower); raise it.", nil, nil),
		misses: prometheus.NewDesc("ecogate_check_view_index_misses_total", "Customs checks whose view was not in memory (no view yet, the index not built yet, or full).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *viewIndexCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.views
	ch <- c.bytes
	ch <- c.full
	ch <- c.misses
}

// Collect implements prometheus.Collector.
func (c *viewIndexCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.db.ViewIndexStats()
	full := 0.0
	if st.Full {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(c.views, prometheus.GaugeValue, float64(st.Views))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(c.full, prometheus.GaugeValue, full)
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(st.Misses))
}

// outboxCollector reads the outbox depth at scrape time.
type outboxCollector struct {
	ob              Outbox
	depth, susp, up *prometheus.Desc
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.susp
	ch <- c.up
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// One read transaction: a message moving between states while the
	// metrics are read is counted once.
	by, err := c.ob.DepthByState(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	suspended := 0
	for p, m := range by {
		for s, k := range m {
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(k), p, string(s))
			if s == store.StateSuspended {
				suspended += k
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.susp, prometheus.GaugeValue, float64(suspended))
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
}
