package chaos

import (
	"fmt"
	"sort"
	"time"
)

// LogEntry is one record of a partition's log as read back.
type LogEntry struct {
	Offset int64
	// ID is the workload record; Valid is false for a value that is not one
	// (or belongs to another run).
	ID    RecordID
	Valid bool
}

// Replica is one data node's copy of a partition.
type Replica struct {
	Node int32
	// Entries are the records it holds, in offset order.
	Entries []LogEntry
	// InSync reports whether the node is in the partition's ISR at the
	// end; only in-sync replicas must hold the whole log up to the high
	// watermark.
	InSync bool
}

// PartitionLog is what was read back from one partition.
type PartitionLog struct {
	// HighWatermark is the leader's at the end of the run.
	HighWatermark int64
	// LogStartOffset is the first offset still in the log (0 here: the
	// suite's topics keep everything).
	LogStartOffset int64
	// Leader is what a consumer reads from the leader, [LogStartOffset, HW).
	Leader []LogEntry
	// Replicas are every replica's own copy.
	Replicas []Replica
}

// CommitObservation is a group's committed offset of a partition seen at
// some time, in the order observed.
type CommitObservation struct {
	Group  string
	TP     TP
	Offset int64
	At     time.Time
}

// GroupOutcome is how a group ended.
type GroupOutcome struct {
	Group string
	// Converged: the group reached Stable with every partition of its
	// topics owned by exactly one of its live members, and its committed
	// offsets reached the high watermarks.
	Converged bool
	Detail    string
}

// Input is everything the checker looks at.
type Input struct {
	Ledger  LedgerView
	Logs    map[TP]PartitionLog
	Commits []CommitObservation
	Groups  []GroupOutcome
	// ReadErrors are partitions or replicas that could not be read.
	ReadErrors []string
	// Incidents are promises the run itself saw broken (for example the
	// cluster not recovering from a fault in time).
	Incidents []string
	// Consumed is, per group, the records its members processed; every
	// acknowledged record of a group's topics (GroupTopics) must be among
	// them once the group converged.
	Consumed    map[string]map[TP]map[RecordID]bool
	GroupTopics map[string][]string
}

// Row is one line of the table: one phase.
type Row struct {
	Fault string
	// Acked and NotAcked count the records sent during the phase.
	Acked, NotAcked int
	// Lost: acknowledged but missing from the log (or at another offset
	// than acknowledged). Duplicated: extra copies in the log. Reordered:
	// records of a producer out of its order within a partition.
	Lost, Duplicated, Reordered int
	// LongestUnavailable is the longest stretch without an acknowledgement
	// of any partition during the phase, and which partition.
	LongestUnavailable time.Duration
	Worst              TP
	Duration           time.Duration
}

// Report is the checker's verdict.
type Report struct {
	Rows []Row
	// Partitions lists the partitions written, sorted; Gaps holds, per row
	// (phase), each partition's longest stretch without an
	// acknowledgement.
	Partitions []TP
	Gaps       []map[TP]time.Duration
	// Violations lists every broken promise, one line each (bounded: see
	// maxListed).
	Violations []string
	// Counts of the checks that are not per phase.
	ReplicaMismatches  int
	CommitRegressions  int
	GroupsNotConverged int
	NotConsumed        int // acknowledged records a converged group never processed
	Unknown            int // records in the log that the workload never sent
}

// OK reports whether every promise held.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// maxListed bounds how many violations of one kind are spelled out.
const maxListed = 20

// violations collects violation lines, bounding each kind.
type violations struct {
	lines  []string
	counts map[string]int
}

func (v *violations) add(kind, format string, args ...any) {
	if v.counts == nil {
		v.counts = map[string]int{}
	}
	v.counts[kind]++
	if v.counts[kind] <= maxListed {
		v.lines = append(v.lines, kind+": "+fmt.Sprintf(format, args...))
	} else if v.counts[kind] == maxListed+1 {
		v.lines = append(v.lines, kind+": (more not listed)")
	}
}

// Check verifies the promises over what the run recorded and read back.
func Check(in Input) *Report {
	rep := &Report{}
	var v violations
	rows := make([]Row, len(in.Ledger.Phases))
	for i, p := range in.Ledger.Phases {
		rows[i] = Row{Fault: p.Name, Duration: p.End.Sub(p.Start)}
		for tp, d := range in.Ledger.MaxGap[i] {
			if d > rows[i].LongestUnavailable {
				rows[i].LongestUnavailable, rows[i].Worst = d, tp
			}
		}
	}
	rep.Partitions = in.Ledger.Partitions()
	rep.Gaps = in.Ledger.MaxGap
	phaseOf := func(tp TP, id RecordID) int {
		if s, ok := in.Ledger.Sends[tp][id]; ok {
			return s.Phase
		}
		return len(rows) - 1
	}
	for _, e := range in.ReadErrors {
		v.add("unreadable", "%s", e)
	}
	for _, e := range in.Incidents {
		v.add("incident", "%s", e)
	}

	tps := in.Ledger.Partitions()
	for tp := range in.Logs {
		if _, ok := in.Ledger.Sends[tp]; !ok {
			tps = append(tps, tp)
		}
	}
	sortTPs(tps)
	for _, tp := range tps {
		sends := in.Ledger.Sends[tp]
		for _, s := range sends {
			switch s.Outcome {
			case Acked:
				rows[s.Phase].Acked++
			default:
				rows[s.Phase].NotAcked++
			}
		}
		pl, read := in.Logs[tp]
		if !read {
			if len(sends) > 0 {
				v.add("unreadable", "%s was not read back", tp)
			}
			continue
		}
		// Where each record sits in the leader's log.
		seen := map[RecordID][]int64{}
		maxSeq := map[int]int64{}
		for _, e := range pl.Leader {
			if !e.Valid {
				rep.Unknown++
				v.add("unknown record", "%s offset %d is not a record of this run", tp, e.Offset)
				continue
			}
			if _, sent := sends[e.ID]; !sent {
				rep.Unknown++
				v.add("unknown record", "%s offset %d holds %s, which was never sent", tp, e.Offset, e.ID)
			}
			seen[e.ID] = append(seen[e.ID], e.Offset)
			if len(seen[e.ID]) > 1 {
				rows[phaseOf(tp, e.ID)].Duplicated++
				v.add("duplicate", "%s %s at offsets %v", tp, e.ID, seen[e.ID])
				continue
			}
			if last, ok := maxSeq[e.ID.Producer]; ok && e.ID.Seq < last {
				rows[phaseOf(tp, e.ID)].Reordered++
				v.add("order", "%s offset %d holds %s after seq %d of the same producer", tp, e.Offset, e.ID, last)
			} else {
				maxSeq[e.ID.Producer] = e.ID.Seq
			}
		}
		ids := make([]RecordID, 0, len(sends))
		for id := range sends {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool {
			if ids[i].Producer != ids[j].Producer {
				return ids[i].Producer < ids[j].Producer
			}
			return ids[i].Seq < ids[j].Seq
		})
		for _, id := range ids {
			s := sends[id]
			if s.Outcome != Acked {
				continue
			}
			at := seen[id]
			switch {
			case len(at) == 0:
				rows[s.Phase].Lost++
				v.add("lost", "%s %s acknowledged at offset %d (phase %s) is not in the log (high watermark %d)", tp, id, s.Offset, rows[s.Phase].Fault, pl.HighWatermark)
			case at[0] != s.Offset:
				rows[s.Phase].Lost++
				v.add("lost", "%s %s acknowledged at offset %d (phase %s) is at offset %d instead", tp, id, s.Offset, rows[s.Phase].Fault, at[0])
			}
		}
		rep.ReplicaMismatches += checkReplicas(&v, tp, pl)
	}

	// Committed offsets never move backwards.
	last := map[string]CommitObservation{}
	for _, c := range in.Commits {
		key := c.Group + "/" + c.TP.String()
		if prev, ok := last[key]; ok && c.Offset < prev.Offset {
			rep.CommitRegressions++
			v.add("commit regression", "group %s %s went from %d (%s) back to %d (%s)", c.Group, c.TP, prev.Offset,
				prev.At.Format("15:04:05.000"), c.Offset, c.At.Format("15:04:05.000"))
		}
		last[key] = c
	}
	for _, g := range in.Groups {
		if !g.Converged {
			rep.GroupsNotConverged++
			v.add("group", "%s did not converge: %s", g.Group, g.Detail)
			continue
		}
		for _, topic := range in.GroupTopics[g.Group] {
			for _, tp := range tps {
				if tp.Topic != topic {
					continue
				}
				for id, s := range in.Ledger.Sends[tp] {
					if s.Outcome == Acked && !in.Consumed[g.Group][tp][id] {
						rep.NotConsumed++
						v.add("not consumed", "group %s never processed %s %s (acknowledged at offset %d)", g.Group, tp, id, s.Offset)
					}
				}
			}
		}
	}
	rep.Rows = rows
	rep.Violations = v.lines
	return rep
}

// checkReplicas compares every replica with the leader's log below the high
// watermark: an in-sync replica must hold exactly the same records at the
// same offsets; any replica may be shorter but never different.
func checkReplicas(v *violations, tp TP, pl PartitionLog) int {
	want := map[int64]RecordID{}
	for _, e := range pl.Leader {
		want[e.Offset] = e.ID
	}
	mismatches := 0
	for _, r := range pl.Replicas {
		have := map[int64]bool{}
		for _, e := range r.Entries {
			if e.Offset >= pl.HighWatermark {
				continue
			}
			have[e.Offset] = true
			w, ok := want[e.Offset]
			if e.Offset < pl.LogStartOffset {
				continue
			}
			if !ok || !e.Valid || w != e.ID {
				mismatches++
				v.add("replica", "%s node %d offset %d holds %s, the leader's log %s", tp, r.Node, e.Offset, e.ID, describe(w, ok))
			}
		}
		if !r.InSync {
			continue
		}
		for _, e := range pl.Leader {
			if !have[e.Offset] {
				mismatches++
				v.add("replica", "%s node %d (in sync) lacks offset %d below the high watermark %d", tp, r.Node, e.Offset, pl.HighWatermark)
			}
		}
	}
	return mismatches
}

func describe(id RecordID, ok bool) string {
	if !ok {
		return "has no record there"
	}
	return "has " + id.String()
}
