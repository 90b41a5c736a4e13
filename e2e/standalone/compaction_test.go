package standalone

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"strand.dev/e2e/harness"
)

// A compacted topic through the CLI: `strand topic create t --config
// cleanup.policy=compact` with small segments, 40 updates of each of 200
// keys, then enough updates of one filler key to roll the segments
// holding them; once the cleaner has run (its metrics say so), consuming
// from the beginning shows each key once, with its latest value, in
// increasing offsets. Keyless records are refused with INVALID_RECORD.
func TestCLICompactedTopicKeepsLatestPerKey(t *testing.T) {
	node := harness.StartStandalone(t, binary(t, "strand-data"), 1, "--log-cleaner-backoff", "100ms")
	b := "--bootstrap=" + node.Addr
	mustStrand(t, "", b, "topic", "create", "t", "--partitions", "1",
		"--config", "cleanup.policy=compact", "--config", "segment.bytes=16384", "--config", "min.cleanable.dirty.ratio=0.3")

	const keys, updates = 200, 40
	latest := map[string]string{}
	var in strings.Builder
	for u := 0; u < updates; u++ {
		for k := 0; k < keys; k++ {
			key, val := fmt.Sprintf("key-%03d", k), fmt.Sprintf("value-%03d-%02d", k, u)
			fmt.Fprintf(&in, "%s|%s\n", key, val)
			latest[key] = val
		}
	}
	mustStrand(t, in.String(), b, "produce", "t", "--key-separator", "|")
	// The filler rolls the last segment with real keys so it can be cleaned.
	var filler strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&filler, "zz-filler|%05d\n", i)
	}
	mustStrand(t, filler.String(), b, "produce", "t", "--key-separator", "|")

	// Keyless records are refused.
	r := strand(t, "no key here\n", b, "produce", "t")
	if r.code == 0 || !strings.Contains(r.stderr, "INVALID_RECORD") {
		t.Fatalf("keyless produce to a compacted topic: exit %d, stderr %s", r.code, r.stderr)
	}

	harness.Eventually(t, 120*time.Second, "the cleaner cleans t", func() bool {
		m := scrape(t, node.Addr)
		return metric(m, `strand_data_log_cleaner_runs_total`) >= 1 &&
			metric(m, `strand_data_log_cleaner_dirty_bytes{partition="0",topic="t"}`) == 0
	})
	m := scrape(t, node.Addr)
	if metric(m, "strand_data_log_cleaner_read_bytes_total") <= 0 || metric(m, "strand_data_log_cleaner_last_run_timestamp_seconds") <= 0 {
		t.Fatalf("cleaner metrics missing:\n%s", grepLines(m, "log_cleaner"))
	}

	out := mustStrand(t, "", b, "-o", "json", "consume", "t", "--from-beginning", "--timeout", "5s")
	seen := map[string]string{}
	last := int64(-1)
	fillers := 0
	for _, l := range strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n") {
		var rec struct {
			Offset int64  `json:"offset"`
			Key    string `json:"key"`
			Value  string `json:"value"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if rec.Offset <= last {
			t.Fatalf("offset %d after %d", rec.Offset, last)
		}
		last = rec.Offset
		if rec.Key == "zz-filler" {
			fillers++
			continue
		}
		if prev, ok := seen[rec.Key]; ok {
			t.Fatalf("key %s twice: %s and %s", rec.Key, prev, rec.Value)
		}
		seen[rec.Key] = rec.Value
	}
	if len(seen) != keys {
		t.Fatalf("consumed %d keys, want %d", len(seen), keys)
	}
	for k, v := range latest {
		if seen[k] != v {
			t.Fatalf("key %s: consumed %q, latest is %q", k, seen[k], v)
		}
	}
	t.Logf("%d keys once each (and %d filler records of the active segment) out of %d records produced", len(seen), fillers, keys*updates+2000)
}

// scrape returns the node's /metrics text.
func scrape(t testing.TB, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metric returns the value of the series named exactly (with its labels),
// or -1.
func metric(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// grepLines returns the lines of text containing s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
