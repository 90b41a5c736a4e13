package isr

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestHighWatermark(t *testing.T) {
	s := New(1, []int32{1, 2, 3}, []int32{1, 2, 3}, 100, t0, time.Second)
	if _, ok := s.HighWatermark(100); ok {
		t.Fatal("high watermark known before the followers reported")
	}
	s.Report(2, 100, 120, at(1))
	if _, ok := s.HighWatermark(120); ok {
		t.Fatal("high watermark known with follower 3 unknown")
	}
	s.Report(3, 110, 120, at(2))
	if hw, ok := s.HighWatermark(120); !ok || hw != 100 {
		t.Fatalf("hw %d %v, want 100", hw, ok)
	}
	// Follower 3 leaves the committed ISR: only the leader and 2 count.
	s.SetISR([]int32{1, 2})
	if hw, _ := s.HighWatermark(120); hw != 100 {
		t.Fatalf("hw %d", hw)
	}
	s.Report(2, 120, 120, at(3))
	if hw, _ := s.HighWatermark(120); hw != 120 {
		t.Fatalf("hw %d, want 120", hw)
	}
	// An expansion in flight counts the joining replica at once.
	s.Propose([]int32{1, 2, 3})
	if hw, _ := s.HighWatermark(130); hw != 110 {
		t.Fatalf("hw with pending expansion %d, want 110", hw)
	}
	s.Abandon()
	if hw, _ := s.HighWatermark(130); hw != 120 {
		t.Fatalf("hw after abandon %d", hw)
	}
	// A shrink in flight does not count yet: the committed ISR does.
	s.SetISR([]int32{1, 2, 3})
	s.Propose([]int32{1, 2})
	if hw, _ := s.HighWatermark(130); hw != 110 {
		t.Fatalf("hw with pending shrink %d, want 110", hw)
	}
}

func TestOutOfSyncAndCaughtUp(t *testing.T) {
	lag := time.Second
	for _, tc := range []struct {
		name    string
		steps   func(s *State)
		leo     int64
		now     time.Time
		wantOut []int32
	}{
		{"fresh leader gives the lag limit", func(s *State) {}, 100, at(900), nil},
		{"silent past the lag limit", func(s *State) {}, 100, at(1001), []int32{2, 3}},
		{"caught up recently", func(s *State) {
			s.Report(2, 100, 100, at(500))
			s.Report(3, 100, 100, at(500))
		}, 150, at(1400), nil},
		{"one round trip behind a busy leader stays", func(s *State) {
			for i := 1; i <= 20; i++ {
				// Each report reaches what the leader had at the previous one.
				s.Report(2, int64(100+10*(i-1)), int64(100+10*i), at(100*i))
				s.Report(3, int64(100+10*(i-1)), int64(100+10*i), at(100*i))
			}
		}, 300, at(2050), nil},
		{"falling behind leaves", func(s *State) {
			s.Report(2, 100, 100, at(100))
			s.Report(3, 100, 100, at(100))
			for i := 2; i <= 20; i++ {
				s.Report(2, int64(100+10*i), int64(100+10*i), at(100*i))
				s.Report(3, 101, int64(100+10*i), at(100*i)) // stuck
			}
		}, 300, at(2050), []int32{3}},
		{"idle then an append", func(s *State) {
			s.Report(2, 100, 100, at(100))
			s.Report(3, 100, 100, at(100))
			s.Appended(100, at(5000)) // quiet for 5 s, then a produce
		}, 110, at(5100), nil},
		{"caught up but the leader has nothing new", func(s *State) {
			s.Report(2, 100, 100, at(100))
			s.Report(3, 100, 100, at(100))
		}, 100, at(9000), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(1, []int32{1, 2, 3}, []int32{1, 2, 3}, 100, t0, lag)
			tc.steps(s)
			if got := s.OutOfSync(tc.leo, tc.now); !slices.Equal(got, tc.wantOut) {
				t.Fatalf("out of sync %v, want %v", got, tc.wantOut)
			}
		})
	}
}

func TestCaughtUpJoins(t *testing.T) {
	s := New(1, []int32{1, 2, 3}, []int32{1}, 50, t0, time.Second)
	s.Report(2, 40, 80, at(1)) // below the epoch start
	s.Report(3, 70, 80, at(1)) // past the epoch start, below the hw
	if got := s.CaughtUp(75); len(got) != 0 {
		t.Fatalf("caught up %v", got)
	}
	s.Report(3, 80, 80, at(2))
	if got := s.CaughtUp(75); !slices.Equal(got, []int32{3}) {
		t.Fatalf("caught up %v", got)
	}
	if got := s.With([]int32{3}); !slices.Equal(got, []int32{1, 3}) {
		t.Fatalf("with %v", got)
	}
	if got := s.Without([]int32{1}); !slices.Equal(got, []int32{1}) {
		t.Fatalf("the leader left its ISR: %v", got)
	}
	if s.Report(9, 1, 1, at(3)) {
		t.Fatal("a report of a non-replica counted")
	}
}

func TestSetReplicas(t *testing.T) {
	s := New(1, []int32{1, 2}, []int32{1, 2}, 0, t0, time.Second)
	s.Report(2, 10, 10, at(1))
	s.SetReplicas([]int32{1, 2, 4}, at(2))
	if f, ok := s.Follower(2); !ok || f.LogEndOffset != 10 {
		t.Fatalf("follower 2 lost: %+v", f)
	}
	if f, ok := s.Follower(4); !ok || f.LogEndOffset != -1 {
		t.Fatalf("follower 4: %+v %v", f, ok)
	}
	s.SetReplicas([]int32{1, 4}, at(3))
	if _, ok := s.Follower(2); ok {
		t.Fatal("removed replica kept")
	}
}
