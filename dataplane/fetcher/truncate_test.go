package fetcher

import (
	"testing"

	"strand.dev/client/wire"
)

// epochs is a fake log: an epoch history over [start, end).
type epochs struct {
	start, end int64
	hist       [][2]int64 // epoch, start offset
}

func (e epochs) StartOffset() int64 { return e.start }
func (e epochs) EndOffset() int64   { return e.end }
func (e epochs) LatestEpoch() int32 {
	if len(e.hist) == 0 {
		return -1
	}
	return int32(e.hist[len(e.hist)-1][0])
}

// EndOffsetForEpoch mirrors partlog's rule.
func (e epochs) EndOffsetForEpoch(epoch int32) (int32, int64) {
	if len(e.hist) == 0 || epoch < 0 || epoch > e.LatestEpoch() {
		return -1, -1
	}
	if epoch == e.LatestEpoch() {
		return epoch, e.end
	}
	i := 0
	for i < len(e.hist) && int32(e.hist[i][0]) <= epoch {
		i++
	}
	if i == 0 {
		return epoch, e.hist[0][1]
	}
	return int32(e.hist[i-1][0]), e.hist[i][1]
}

// leaderAnswer is what a leader with history l answers about epoch.
func leaderAnswer(l epochs, epoch int32) wire.EpochEndPartition {
	e, end := l.EndOffsetForEpoch(epoch)
	return wire.EpochEndPartition{Epoch: e, EndOffset: end, LogStartOffset: l.start, LogEndOffset: l.end}
}

// converge runs the truncation rounds as the fetcher does and returns the
// final log end offset (and whether the log was emptied).
func converge(t *testing.T, f, l epochs) (int64, bool) {
	t.Helper()
	ask := askEpoch(f)
	full := false
	for round := 0; ; round++ {
		if round > 10 {
			t.Fatal("truncation does not converge")
		}
		d := decideTruncation(f, ask, leaderAnswer(l, ask))
		if d.To > f.end && !d.Full {
			t.Fatalf("cut %d beyond the end %d", d.To, f.end)
		}
		if d.Full {
			f = epochs{start: d.To, end: d.To}
			full = true
		} else if d.To < f.end {
			f.end = d.To
			// Drop history entries at or after the cut.
			n := len(f.hist)
			for n > 0 && f.hist[n-1][1] >= d.To {
				n--
			}
			f.hist = f.hist[:n]
		}
		if !d.Again {
			if f.end < l.start {
				// cut() restarts a log wholly below the leader's start.
				return l.start, true
			}
			return f.end, full
		}
		ask = d.AskEpoch
	}
}

func TestDecideTruncation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		follower epochs
		leader   epochs
		want     int64
		wantFull bool
	}{
		{"same history, follower behind", epochs{0, 10, [][2]int64{{1, 0}}}, epochs{0, 20, [][2]int64{{1, 0}}}, 10, false},
		{"follower ahead in the same epoch", epochs{0, 15, [][2]int64{{1, 0}}}, epochs{0, 10, [][2]int64{{1, 0}, {2, 10}}}, 10, false},
		{"follower led an epoch the leader never had (KIP-279)", epochs{0, 13, [][2]int64{{1, 0}, {2, 10}}}, epochs{0, 30, [][2]int64{{1, 0}, {3, 10}}}, 10, false},
		{"follower's epoch ended earlier", epochs{0, 9, [][2]int64{{1, 0}, {2, 5}}}, epochs{0, 12, [][2]int64{{1, 0}, {3, 8}}}, 5, false},
		{"two rounds", epochs{0, 12, [][2]int64{{0, 0}, {2, 5}, {4, 9}}}, epochs{0, 20, [][2]int64{{0, 0}, {3, 7}, {5, 15}}}, 5, false},
		{"empty follower", epochs{0, 0, nil}, epochs{0, 20, [][2]int64{{1, 0}}}, 0, false},
		{"follower without epochs but with data", epochs{0, 4, nil}, epochs{3, 20, [][2]int64{{1, 3}}}, 3, true},
		{"leader without history", epochs{0, 8, [][2]int64{{1, 0}}}, epochs{0, 5, nil}, 5, false},
		{"identical", epochs{0, 20, [][2]int64{{1, 0}, {2, 10}}}, epochs{0, 20, [][2]int64{{1, 0}, {2, 10}}}, 20, false},
		{"follower epoch older than the leader's first", epochs{0, 10, [][2]int64{{1, 0}}}, epochs{50, 60, [][2]int64{{5, 50}}}, 50, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, full := converge(t, tc.follower, tc.leader)
			if got != tc.want || full != tc.wantFull {
				t.Fatalf("truncated to %d (full %v), want %d (full %v)", got, full, tc.want, tc.wantFull)
			}
		})
	}
}
