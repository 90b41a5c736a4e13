package ownership

import (
	"hash/fnv"
	"slices"

	"strand.dev/client/wire"
)

// Peer is a live coordinator.
type Peer struct {
	ID   string
	Addr string
}

// Desired returns the live coordinator that should own partition p: the
// highest rendezvous hash of (id, p). ok is false when no peer is live.
func Desired(peers []Peer, p int32) (Peer, bool) {
	var best Peer
	var bestH uint64
	found := false
	for _, peer := range peers {
		h := score(peer.ID, p)
		if !found || h > bestH || h == bestH && peer.ID < best.ID {
			best, bestH, found = peer, h, true
		}
	}
	return best, found
}

func score(id string, p int32) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	_, _ = h.Write([]byte{0, byte(p >> 24), byte(p >> 16), byte(p >> 8), byte(p)})
	// fnv's low bits mix poorly for short inputs: finish with a mixer.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// ActionType is what Plan asks the driver to do.
type ActionType int

// The actions.
const (
	// Claim: propose claim_offsets_owner with ExpectedEpoch; Wait says the
	// previous owner did not release it, so serving waits a lease.
	Claim ActionType = iota + 1
	// Release: stop serving, then propose release_offsets_owner at Epoch.
	Release
)

// Action is one step for the driver.
type Action struct {
	Type      ActionType
	Partition int32
	// Epoch is the epoch seen: the expected epoch of a claim, the held epoch
	// of a release.
	Epoch int64
	// Wait (claims only): the previous owner did not release the partition.
	Wait bool
	// To names the coordinator a released partition is for (for logs).
	To string
}

// Plan compares the image's owners of partitions [0, n) with who should own
// them, for coordinator self, and returns the claims and releases self should
// make. Partitions self holds and should keep need nothing. live must include
// self.
func Plan(self string, n int32, owners map[int32]*wire.OffsetsOwner, live []Peer) []Action {
	alive := map[string]bool{}
	for _, p := range live {
		alive[p.ID] = true
	}
	peers := slices.Clone(live)
	slices.SortFunc(peers, func(a, b Peer) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	var out []Action
	for p := range n {
		want, ok := Desired(peers, p)
		if !ok {
			continue
		}
		var holder string
		var epoch int64
		if o := owners[p]; o != nil {
			holder, epoch = o.Coordinator, o.Epoch
		}
		switch {
		case holder == self && want.ID != self:
			out = append(out, Action{Type: Release, Partition: p, Epoch: epoch, To: want.ID})
		case holder != self && want.ID == self && (holder == "" || !alive[holder]):
			out = append(out, Action{Type: Claim, Partition: p, Epoch: epoch, Wait: holder != ""})
		}
	}
	return out
}
