package metastate

import (
	"math"

	"strand.dev/client/wire"
)

// claimOffsetsOwner makes a coordinator the owner of an offsets partition if
// the ownership epoch is still the one it saw (0 for a partition never
// owned). It returns the new ownership epoch.
func (b *builder) claimOffsetsOwner(c *wire.ClaimOffsetsOwnerCmd) (int64, error) {
	var epoch int64
	if o := b.owner(c.Partition); o != nil {
		epoch = o.Epoch
	}
	if c.ExpectedEpoch != epoch {
		return 0, wire.Errorf(wire.CodeInvalidUpdateVersion, "offsets partition %d is at ownership epoch %d, not %d", c.Partition, epoch, c.ExpectedEpoch)
	}
	b.putOwner(c.Partition, &wire.OffsetsOwner{Coordinator: c.Coordinator, Addr: c.Addr, Epoch: epoch + 1})
	return epoch + 1, nil
}

// releaseOffsetsOwner gives up an ownership. The record stays, without an
// owner and one epoch further, so that a claim based on any earlier epoch
// fails.
func (b *builder) releaseOffsetsOwner(c *wire.ReleaseOffsetsOwnerCmd) error {
	o := b.owner(c.Partition)
	if o == nil || o.Coordinator != c.Coordinator || o.Epoch != c.Epoch {
		var holder string
		var epoch int64
		if o != nil {
			holder, epoch = o.Coordinator, o.Epoch
		}
		return wire.Errorf(wire.CodeInvalidUpdateVersion, "release of offsets partition %d by %q at epoch %d: it is owned by %q at epoch %d", c.Partition, c.Coordinator, c.Epoch, holder, epoch)
	}
	b.putOwner(c.Partition, &wire.OffsetsOwner{Epoch: o.Epoch + 1})
	return nil
}

// allocateProducerIDs hands out the next block of producer ids and returns
// its first id.
func (b *builder) allocateProducerIDs(c *wire.AllocateProducerIDsCmd) (int64, error) {
	first := b.img.NextProducerID
	if first > math.MaxInt64-c.Count {
		return 0, wire.Errorf(wire.CodeInvalidRequest, "producer ids are exhausted (next id %d)", first)
	}
	b.img.NextProducerID = first + c.Count
	return first, nil
}
