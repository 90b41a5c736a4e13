package chaos

import (
	"strings"
	"testing"
	"time"
)

func TestValueRoundTrip(t *testing.T) {
	tp := TP{Topic: "chaos-a", Partition: 3}
	for _, pad := range []int{0, 10, 100} {
		v := EncodeValue("r1", tp, RecordID{Producer: 7, Seq: 12345}, pad)
		if pad > 0 && len(v) < pad {
			t.Errorf("pad %d: value is %d bytes", pad, len(v))
		}
		run, part, id, ok := DecodeValue(v)
		if !ok || run != "r1" || part != 3 || id != (RecordID{7, 12345}) {
			t.Errorf("pad %d: decoded %q %d %v %v", pad, run, part, id, ok)
		}
	}
	for _, bad := range []string{"", "chaos", "chaos r 1 2", "other r 1 2 3", "chaos r x 2 3", "chaos r 1 2 -4"} {
		if _, _, _, ok := DecodeValue([]byte(bad)); ok {
			t.Errorf("%q decoded as a workload value", bad)
		}
	}
}

// fakeClock is a settable clock for the ledger.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLedgerGapsPerPhase(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLedger("baseline", clk.now)
	tp := TP{"t", 0}
	seq := int64(0)
	send := func(ack bool) {
		id := RecordID{0, seq}
		seq++
		l.Sent(tp, id)
		if ack {
			l.Acked(tp, id, seq-1)
		}
	}
	for i := 0; i < 5; i++ {
		clk.advance(10 * time.Millisecond)
		send(true)
	}
	l.BeginPhase("kill leader")
	clk.advance(10 * time.Millisecond)
	send(false)
	clk.advance(3 * time.Second)
	send(true)
	l.BeginPhase("stuck")
	clk.advance(10 * time.Millisecond)
	send(false)
	clk.advance(2 * time.Second)
	l.Finish()
	v := l.View()
	if len(v.Phases) != 3 {
		t.Fatalf("%d phases", len(v.Phases))
	}
	if g := v.MaxGap[0][tp]; g != 10*time.Millisecond {
		t.Errorf("baseline gap %v, want 10ms", g)
	}
	if g := v.MaxGap[1][tp]; g != 3010*time.Millisecond {
		t.Errorf("kill-leader gap %v, want 3.01s", g)
	}
	if g := v.MaxGap[2][tp]; g != 2010*time.Millisecond {
		t.Errorf("stuck gap %v, want 2.01s (never acknowledged again)", g)
	}
	if s := v.Sends[tp][RecordID{0, 5}]; s.Phase != 1 || s.Outcome != Pending {
		t.Errorf("send 5: %+v", s)
	}
}

// scenario builds a checker input for one partition: the sends (acked at
// the given offsets, or not acked when the offset is -1) and the leader's
// log as a list of ids.
func scenario(acks map[RecordID]int64, log []RecordID) Input {
	tp := TP{"t", 0}
	now := time.Unix(0, 0)
	in := Input{Ledger: LedgerView{
		Phases: []Phase{{Name: "baseline", Start: now, End: now.Add(time.Second)}},
		Sends:  map[TP]map[RecordID]Send{tp: {}},
		MaxGap: []map[TP]time.Duration{{tp: 50 * time.Millisecond}},
	}}
	for id, off := range acks {
		s := Send{Outcome: Acked, Offset: off}
		if off < 0 {
			s.Outcome = Failed
		}
		in.Ledger.Sends[tp][id] = s
	}
	pl := PartitionLog{HighWatermark: int64(len(log))}
	for i, id := range log {
		pl.Leader = append(pl.Leader, LogEntry{Offset: int64(i), ID: id, Valid: true})
	}
	pl.Replicas = []Replica{{Node: 1, Entries: pl.Leader, InSync: true}}
	in.Logs = map[TP]PartitionLog{tp: pl}
	return in
}

func TestCheck(t *testing.T) {
	a, b, c, d := RecordID{0, 0}, RecordID{0, 1}, RecordID{0, 2}, RecordID{1, 0}
	cases := []struct {
		name                 string
		in                   Input
		lost, dup, reordered int
		ok                   bool
	}{
		{"clean", scenario(map[RecordID]int64{a: 0, b: 1, c: 2}, []RecordID{a, b, c}), 0, 0, 0, true},
		{"unacked missing is fine", scenario(map[RecordID]int64{a: 0, b: -1, c: 1}, []RecordID{a, c}), 0, 0, 0, true},
		{"unacked present is fine", scenario(map[RecordID]int64{a: 0, b: -1, c: 2}, []RecordID{a, b, c}), 0, 0, 0, true},
		{"lost", scenario(map[RecordID]int64{a: 0, b: 1, c: 2}, []RecordID{a, c}), 2, 0, 0, false},
		{"moved", scenario(map[RecordID]int64{a: 0, b: 1}, []RecordID{b, a}), 2, 0, 1, false},
		{"duplicate", scenario(map[RecordID]int64{a: 0, b: 1, c: 4}, []RecordID{a, b, a, b, c}), 0, 2, 0, false},
		{"reordered", scenario(map[RecordID]int64{a: 0, c: 1, b: 2}, []RecordID{a, c, b}), 0, 0, 1, false},
		{"producers interleave", scenario(map[RecordID]int64{a: 0, d: 1, b: 2}, []RecordID{a, d, b}), 0, 0, 0, true},
		{"never sent", scenario(map[RecordID]int64{a: 0}, []RecordID{a, {9, 9}}), 0, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := Check(tc.in)
			row := rep.Rows[0]
			if row.Lost != tc.lost || row.Duplicated != tc.dup || row.Reordered != tc.reordered || rep.OK() != tc.ok {
				t.Errorf("lost %d dup %d reordered %d ok %v; want %d %d %d %v; violations:\n%s",
					row.Lost, row.Duplicated, row.Reordered, rep.OK(), tc.lost, tc.dup, tc.reordered, tc.ok,
					strings.Join(rep.Violations, "\n"))
			}
		})
	}
}

func TestCheckReplicas(t *testing.T) {
	a, b, c := RecordID{0, 0}, RecordID{0, 1}, RecordID{0, 2}
	in := scenario(map[RecordID]int64{a: 0, b: 1, c: 2}, []RecordID{a, b, c})
	tp := TP{"t", 0}
	pl := in.Logs[tp]
	pl.Replicas = []Replica{
		{Node: 1, Entries: pl.Leader, InSync: true},
		// A lagging replica out of the ISR may be shorter.
		{Node: 2, Entries: pl.Leader[:1], InSync: false},
		// An in-sync one may not, nor may it differ; beyond the high
		// watermark anything goes.
		{Node: 3, Entries: []LogEntry{{0, a, true}, {1, c, true}, {3, a, true}}, InSync: true},
	}
	in.Logs[tp] = pl
	rep := Check(in)
	if rep.ReplicaMismatches != 2 || rep.OK() {
		t.Errorf("mismatches %d ok %v, want 2 false:\n%s", rep.ReplicaMismatches, rep.OK(), strings.Join(rep.Violations, "\n"))
	}
}

func TestCheckCommitsAndGroups(t *testing.T) {
	in := scenario(nil, nil)
	tp := TP{"t", 0}
	at := time.Unix(0, 0)
	in.Commits = []CommitObservation{
		{"g", tp, 5, at}, {"g", tp, 5, at}, {"g", tp, 9, at}, {"g", TP{"t", 1}, 2, at}, {"g", tp, 7, at}, {"h", tp, 1, at},
	}
	in.Groups = []GroupOutcome{{Group: "g", Converged: true}, {Group: "h", Detail: "2 members own t-0"}}
	rep := Check(in)
	if rep.CommitRegressions != 1 || rep.GroupsNotConverged != 1 {
		t.Errorf("regressions %d groups %d, want 1 1:\n%s", rep.CommitRegressions, rep.GroupsNotConverged, strings.Join(rep.Violations, "\n"))
	}
}

func TestCheckConsumed(t *testing.T) {
	a, b, c := RecordID{0, 0}, RecordID{0, 1}, RecordID{0, 2}
	in := scenario(map[RecordID]int64{a: 0, b: 1, c: -1}, []RecordID{a, b})
	tp := TP{"t", 0}
	in.Groups = []GroupOutcome{{Group: "g", Converged: true}}
	in.GroupTopics = map[string][]string{"g": {"t"}}
	// c was never acknowledged: not consuming it is fine; b is missing.
	in.Consumed = map[string]map[TP]map[RecordID]bool{"g": {tp: {a: true}}}
	rep := Check(in)
	if rep.NotConsumed != 1 || rep.OK() {
		t.Errorf("not consumed %d ok %v, want 1 false:\n%s", rep.NotConsumed, rep.OK(), strings.Join(rep.Violations, "\n"))
	}
}

func TestWriteTable(t *testing.T) {
	a := RecordID{0, 0}
	rep := Check(scenario(map[RecordID]int64{a: 0}, []RecordID{a}))
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{"| fault", "| baseline", "| total", "verdict: PASS", "50ms (t-0)", "| longest unavailability", "| t-0"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
