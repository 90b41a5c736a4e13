package fetcher

import "strand.dev/client/wire"

// epochView is what the truncation decision reads of the follower's log.
type epochView interface {
	StartOffset() int64
	EndOffset() int64
	LatestEpoch() int32
	EndOffsetForEpoch(epoch int32) (int32, int64)
}

// truncation is one step of the leader-epoch truncation of a follower
// (Kafka's KIP-101 with KIP-279's repeated lookups).
type truncation struct {
	// Full: the log is emptied and starts at To (TruncateFullyAndStartAt);
	// otherwise it is cut at To (TruncateTo, a no-op at or past its end).
	Full bool
	To   int64
	// Again: ask the leader once more, about AskEpoch, after this cut.
	Again    bool
	AskEpoch int32
}

// askEpoch is the epoch the follower asks the leader about first: the
// newest in its history (-1 when it has none).
func askEpoch(l epochView) int32 { return l.LatestEpoch() }

// decideTruncation turns the leader's answer about epoch asked into the cut
// the follower makes:
//
//   - the follower knows no epoch (asked < 0): an empty log stays as it is,
//     anything else goes (it cannot be matched with the leader's history)
//     and the log restarts at the leader's log start offset;
//   - the leader knows no epoch <= asked (its history is empty): cut at the
//     leader's log end offset;
//   - the leader has the epoch asked: cut where the leader's epoch ends;
//   - the leader's largest epoch <= asked is an older epoch E: if the
//     follower has E too, cut at the smaller of the two ends of E;
//     otherwise cut at the end of the follower's largest epoch below E
//     (everything after it is an epoch the leader never had) and ask again
//     about that epoch.
//
// A cut is never beyond the follower's log end offset.
func decideTruncation(l epochView, asked int32, ans wire.EpochEndPartition) truncation {
	leo := l.EndOffset()
	switch {
	case asked < 0:
		if leo == l.StartOffset() {
			return truncation{To: leo}
		}
		return truncation{Full: true, To: max(ans.LogStartOffset, 0)}
	case ans.Epoch < 0 || ans.EndOffset < 0:
		return truncation{To: min(leo, max(ans.LogEndOffset, 0))}
	case ans.Epoch >= asked:
		return truncation{To: min(leo, ans.EndOffset)}
	}
	own, ownEnd := l.EndOffsetForEpoch(ans.Epoch)
	if own == ans.Epoch {
		return truncation{To: min(leo, ans.EndOffset, ownEnd)}
	}
	if own < 0 {
		// The follower's history has nothing at or below the leader's
		// epoch: none of its log can be matched.
		return truncation{Full: true, To: max(ans.LogStartOffset, 0)}
	}
	return truncation{To: min(leo, ownEnd), Again: true, AskEpoch: own}
}
