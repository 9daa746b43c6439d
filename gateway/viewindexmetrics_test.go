package gateway

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecogate/ecogate/store"
)

// TestViewIndexMetrics: the check view index's figures reach the metrics.
func TestViewIndexMetrics(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "n.db"), store.Options{ViewMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.WaitViewIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"C1", "C2"} {
		if err := db.Customs().PutView(ctx, "IN", n, 0, []byte("view of "+n)); err != nil {
			t.Fatal(err)
		}
	}
	var s store.Snapshot
	if _, err := db.Customs().Snapshot("IN", "C3", nil, &s); err != nil { // no view: a miss
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newViewIndexCollector(db))
	want := `
# HELP ecogate_check_view_index_misses_total Customs checks whose view was not in memory (no view yet, the index not built yet, or full).
# TYPE ecogate_check_view_index_misses_total counter
ecogate_check_view_index_misses_total 1
# HELP ecogate_check_view_index_views Customs check views held in memory (dataViewMemoryMiB).
# TYPE ecogate_check_view_index_views gauge
ecogate_check_view_index_views 2
# HELP ecogate_check_view_index_full 1 when a check view did not fit in dataViewMemoryMiB: checks of the views beyond it read the data file (slower); raise it.
# TYPE ecogate_check_view_index_full gauge
ecogate_check_view_index_full 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ecogate_check_view_index_views", "ecogate_check_view_index_misses_total", "ecogate_check_view_index_full"); err != nil {
		t.Fatal(err)
	}
	if st := db.ViewIndexStats(); st.Bytes <= 0 || st.Bytes > 1000 {
		t.Fatalf("bytes %d for two short views", st.Bytes)
	}
}
