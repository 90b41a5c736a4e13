// Package isr is a partition leader's replication bookkeeping as pure
// functions over events: what each follower has (its log end offset), when
// it was last caught up, the in-sync replica set (ISR) with the change in
// flight, the high watermark that follows from them, and which followers
// leave or join the ISR. It does no I/O and reads no clock: callers pass
// the time. The replica layer drives it under the partition's lock.
//
// The rules are Kafka's:
//
//   - The high watermark is the smallest log end offset over the ISR. While
//     an ISR change is in flight the larger of the two sets counts (the
//     committed ISR plus the replicas being added), so a record is
//     acknowledged only once every replica that is, or may become, in sync
//     has it. A follower that has not reported since this node became
//     leader holds the high watermark back.
//   - A follower is caught up at the moment it reports a log end offset at
//     or past the leader's log end offset; a report that reaches the
//     leader's log end offset as of the previous report makes it caught up
//     as of that previous report (so a follower that is always one round
//     trip behind a busy leader stays in sync); and a follower that has
//     everything when the leader appends is caught up as of that append
//     (followers report only when they append, not while idle).
//   - A follower leaves the ISR when it is behind the leader's log end
//     offset and was last caught up longer than the lag limit ago
//     (replica.lag.time.max.ms).
//   - A follower joins the ISR when its log end offset reached the high
//     watermark and the start of the leader's epoch (it fetched from this
//     leader, so its log matches).
package isr

import (
	"slices"
	"time"
)

// Follower is what the leader knows of one follower.
type Follower struct {
	// LogEndOffset is the follower's log end offset, -1 until it reports.
	LogEndOffset int64
	// LastCaughtUp is when it was last caught up with the leader.
	LastCaughtUp time.Time
	// lastReport and leaderLEOAtReport are the previous report's time and
	// the leader's log end offset then.
	lastReport        time.Time
	leaderLEOAtReport int64
}

// State is one partition's replication state on its leader. It is not safe
// for concurrent use: the caller serialises access.
type State struct {
	self     int32
	replicas []int32
	isr      []int32
	// pending is the ISR proposed and not yet committed (nil when none).
	pending []int32
	// epochStart is the leader's log end offset when it became leader.
	epochStart int64
	lagMax     time.Duration
	followers  map[int32]*Follower
}

// New starts the state of a node that became leader: its replicas, the
// committed ISR, its log end offset (the start of its epoch), the time and
// the lag limit. Every follower starts unknown, caught up as of now (it
// gets the lag limit to report).
func New(self int32, replicas, isr []int32, leaderLEO int64, now time.Time, lagMax time.Duration) *State {
	s := &State{self: self, epochStart: leaderLEO, lagMax: lagMax, followers: map[int32]*Follower{}}
	s.SetReplicas(replicas, now)
	s.SetISR(isr)
	return s
}

// SetReplicas replaces the replica set; new followers start unknown.
func (s *State) SetReplicas(replicas []int32, now time.Time) {
	s.replicas = slices.Clone(replicas)
	for _, r := range replicas {
		if r == s.self {
			continue
		}
		if _, ok := s.followers[r]; !ok {
			s.followers[r] = &Follower{LogEndOffset: -1, LastCaughtUp: now, leaderLEOAtReport: -1}
		}
	}
	for id := range s.followers {
		if !slices.Contains(replicas, id) {
			delete(s.followers, id)
		}
	}
}

// SetISR sets the committed ISR (from the metadata image, or after this
// leader's change was accepted) and clears the change in flight. The
// leader is always counted in.
func (s *State) SetISR(isr []int32) {
	s.isr = normalize(isr, s.self)
	s.pending = nil
}

// ISR is the committed ISR.
func (s *State) ISR() []int32 { return slices.Clone(s.isr) }

// Pending is the ISR change in flight, or nil.
func (s *State) Pending() []int32 { return slices.Clone(s.pending) }

// Propose records an ISR change sent for commit.
func (s *State) Propose(isr []int32) { s.pending = normalize(isr, s.self) }

// Abandon forgets the change in flight (it was rejected).
func (s *State) Abandon() { s.pending = nil }

// EpochStart is the leader's log end offset when it became leader.
func (s *State) EpochStart() int64 { return s.epochStart }

// Follower returns what is known of a follower.
func (s *State) Follower(id int32) (Follower, bool) {
	f, ok := s.followers[id]
	if !ok {
		return Follower{}, false
	}
	return *f, true
}

// Report records a follower's log end offset, reported at now while the
// leader's log end offset is leaderLEO. Reports of non-replicas are
// ignored; it returns whether the follower is a replica.
func (s *State) Report(id int32, leo, leaderLEO int64, now time.Time) bool {
	f, ok := s.followers[id]
	if !ok {
		return false
	}
	switch {
	case leo >= leaderLEO:
		f.LastCaughtUp = now
	case f.leaderLEOAtReport >= 0 && leo >= f.leaderLEOAtReport && f.lastReport.After(f.LastCaughtUp):
		f.LastCaughtUp = f.lastReport
	}
	f.LogEndOffset = leo
	f.lastReport, f.leaderLEOAtReport = now, leaderLEO
	return true
}

// Appended records that the leader's log grew from oldLEO at now: a
// follower that had everything up to oldLEO was caught up until this
// moment. (Followers report only when they append, so without this a
// follower that was idle with the leader would look stale at the first
// append after a quiet period.)
func (s *State) Appended(oldLEO int64, now time.Time) {
	for _, f := range s.followers {
		if f.LogEndOffset >= oldLEO && now.After(f.LastCaughtUp) {
			f.LastCaughtUp = now
		}
	}
}

// counted is the set the high watermark is computed over: the committed ISR
// plus replicas a pending change adds.
func (s *State) counted() []int32 {
	out := slices.Clone(s.isr)
	for _, r := range s.pending {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// HighWatermark is the smallest log end offset over the counted ISR, given
// the leader's own. ok is false while a member's offset is unknown.
func (s *State) HighWatermark(leaderLEO int64) (hw int64, ok bool) {
	hw = leaderLEO
	for _, r := range s.counted() {
		if r == s.self {
			continue
		}
		f, known := s.followers[r]
		if !known || f.LogEndOffset < 0 {
			return 0, false
		}
		hw = min(hw, f.LogEndOffset)
	}
	return hw, true
}

// OutOfSync lists the ISR followers that should leave it at now.
func (s *State) OutOfSync(leaderLEO int64, now time.Time) []int32 {
	var out []int32
	for _, r := range s.isr {
		if r == s.self {
			continue
		}
		f, ok := s.followers[r]
		if !ok {
			continue
		}
		if f.LogEndOffset != leaderLEO && now.Sub(f.LastCaughtUp) > s.lagMax {
			out = append(out, r)
		}
	}
	return out
}

// CaughtUp lists the followers outside the ISR that may join it: their log
// end offset reached the high watermark and the start of this epoch.
func (s *State) CaughtUp(hw int64) []int32 {
	var out []int32
	for _, r := range s.replicas {
		if r == s.self || slices.Contains(s.isr, r) {
			continue
		}
		f, ok := s.followers[r]
		if ok && f.LogEndOffset >= 0 && f.LogEndOffset >= hw && f.LogEndOffset >= s.epochStart {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// Without returns the ISR less ids; With the ISR plus ids (sorted, with the
// leader).
func (s *State) Without(ids []int32) []int32 {
	out := make([]int32, 0, len(s.isr))
	for _, r := range s.isr {
		if !slices.Contains(ids, r) {
			out = append(out, r)
		}
	}
	return normalize(out, s.self)
}

// With returns the ISR plus ids.
func (s *State) With(ids []int32) []int32 {
	return normalize(append(slices.Clone(s.isr), ids...), s.self)
}

// normalize sorts an ISR, drops duplicates and makes sure the leader is in.
func normalize(isr []int32, self int32) []int32 {
	out := slices.Clone(isr)
	if !slices.Contains(out, self) {
		out = append(out, self)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
