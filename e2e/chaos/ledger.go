package chaos

import (
	"sort"
	"sync"
	"time"
)

// Outcome is what became of a send.
type Outcome uint8

// Outcomes of a send.
const (
	// Pending: no answer yet.
	Pending Outcome = iota
	// Acked: acknowledged with acks=all at Offset.
	Acked
	// Failed: the producer gave up; the record may or may not be in the log.
	Failed
)

// Send is one record the workload sent and what became of it.
type Send struct {
	Phase   int // index into Ledger phases at the time of the send
	Outcome Outcome
	Offset  int64 // when Acked
	AckedAt time.Time
	Err     string // when Failed
}

// Phase is one stretch of the run: the baseline, or one fault from its
// injection until the cluster recovered.
type Phase struct {
	Name       string
	Start, End time.Time
}

// Ledger records the workload's sends and their outcomes. It is safe for
// concurrent use (one mutex; no call out while holding it).
type Ledger struct {
	mu      sync.Mutex
	phases  []Phase
	sends   map[TP]map[RecordID]*Send
	lastAck map[TP]time.Time
	// maxGap is, per phase, each partition's longest stretch between two
	// acknowledgements. The workload sends to every partition all the time,
	// so such a stretch is unavailability (plus at most a send interval).
	maxGap []map[TP]time.Duration
	now    func() time.Time
}

// NewLedger returns a ledger whose first phase is named first.
func NewLedger(first string, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	l := &Ledger{sends: map[TP]map[RecordID]*Send{}, lastAck: map[TP]time.Time{}, now: now}
	l.phases = []Phase{{Name: first, Start: now()}}
	l.maxGap = []map[TP]time.Duration{{}}
	return l
}

// BeginPhase ends the current phase and starts a new one.
func (l *Ledger) BeginPhase(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	l.phases[len(l.phases)-1].End = t
	l.phases = append(l.phases, Phase{Name: name, Start: t})
	l.maxGap = append(l.maxGap, map[TP]time.Duration{})
}

// Sent records a send of id to tp, in the current phase. The first send of
// a partition starts its availability clock.
func (l *Ledger) Sent(tp TP, id RecordID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.sends[tp]
	if m == nil {
		m = map[RecordID]*Send{}
		l.sends[tp] = m
		l.lastAck[tp] = l.now()
	}
	m[id] = &Send{Phase: len(l.phases) - 1, Outcome: Pending, Offset: -1}
}

// Acked records id's acknowledgement at offset, and the partition's gap
// since its previous acknowledgement (attributed to the current phase).
func (l *Ledger) Acked(tp TP, id RecordID, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sends[tp][id]
	if s == nil {
		return
	}
	t := l.now()
	s.Outcome, s.Offset, s.AckedAt = Acked, offset, t
	l.noteGapLocked(tp, t)
	l.lastAck[tp] = t
}

// Failed records that the producer gave up on id.
func (l *Ledger) Failed(tp TP, id RecordID, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.sends[tp][id]; s != nil {
		s.Outcome, s.Err = Failed, err.Error()
	}
}

func (l *Ledger) noteGapLocked(tp TP, t time.Time) {
	gap := t.Sub(l.lastAck[tp])
	cur := l.maxGap[len(l.maxGap)-1]
	if gap > cur[tp] {
		cur[tp] = gap
	}
}

// Finish ends the last phase. A partition whose sends since its last
// acknowledgement never got one is counted unavailable until now.
func (l *Ledger) Finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	l.phases[len(l.phases)-1].End = t
	for tp, m := range l.sends {
		for _, s := range m {
			if s.Outcome != Acked {
				l.noteGapLocked(tp, t)
				break
			}
		}
	}
}

// LedgerView is a copy of a ledger's contents, for the checker.
type LedgerView struct {
	Phases []Phase
	Sends  map[TP]map[RecordID]Send
	// MaxGap is, per phase, each partition's longest stretch without an
	// acknowledgement.
	MaxGap []map[TP]time.Duration
}

// View copies the ledger.
func (l *Ledger) View() LedgerView {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := LedgerView{Phases: append([]Phase(nil), l.phases...), Sends: map[TP]map[RecordID]Send{}}
	for tp, m := range l.sends {
		c := make(map[RecordID]Send, len(m))
		for id, s := range m {
			c[id] = *s
		}
		v.Sends[tp] = c
	}
	for _, g := range l.maxGap {
		c := make(map[TP]time.Duration, len(g))
		for tp, d := range g {
			c[tp] = d
		}
		v.MaxGap = append(v.MaxGap, c)
	}
	return v
}

// Partitions lists the partitions the ledger has sends for, sorted.
func (v LedgerView) Partitions() []TP {
	out := make([]TP, 0, len(v.Sends))
	for tp := range v.Sends {
		out = append(out, tp)
	}
	sortTPs(out)
	return out
}

func sortTPs(tps []TP) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}
