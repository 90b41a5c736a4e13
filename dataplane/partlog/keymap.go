package partlog

import (
	"hash/maphash"
)

// keySlotBytes is the memory of one key map slot: a 128-bit hash of the
// key and the offset of its latest record.
const keySlotBytes = 24

// keyMapLoadFactor is the share of slots the key map fills before it
// reports itself full (Kafka's log.cleaner.io.buffer.load.factor).
const keyMapLoadFactor = 0.9

// keyMap is the cleaner's bounded map from a record key to the offset of
// its latest record (Kafka's SkimpyOffsetMap): open addressing over a
// fixed array of slots, each a 128-bit hash of the key (two seeded
// maphash sums) and an offset, so its memory is fixed by its capacity and
// does not depend on the keys' sizes. The slot array starts small and
// doubles (up to the bound) whenever it is half full, so a log with few
// keys probes a table that fits the CPU caches. Two keys collide only when both
// 64-bit halves do; at 2^-128 per pair this is ignored, as Kafka ignores
// MD5 collisions. Not safe for concurrent use: each cleaner thread owns one.
type keyMap struct {
	slots      []keySlot
	maxSlots   int
	used       int
	limit      int // keys the map takes at most: keyMapLoadFactor of maxSlots
	seedA      maphash.Seed
	seedB      maphash.Seed
	lookups    uint64
	probeSteps uint64
}

// keySlot is one slot; off is the offset plus one, so the zero slot is
// empty.
type keySlot struct {
	a, b uint64
	off  int64
}

// keyMapInitialSlots is the slot array's size before it grows.
const keyMapInitialSlots = 1 << 16

// newKeyMap returns a map using at most memBytes of slots (at least 16).
func newKeyMap(memBytes int64) *keyMap {
	n := max(int(memBytes/keySlotBytes), 16)
	return &keyMap{
		slots:    make([]keySlot, min(n, keyMapInitialSlots)),
		maxSlots: n,
		limit:    max(int(float64(n)*keyMapLoadFactor), 1),
		seedA:    maphash.MakeSeed(),
		seedB:    maphash.MakeSeed(),
	}
}

// capacity is the number of keys the map takes before it is full.
func (m *keyMap) capacity() int { return m.limit }

// size is the number of keys in the map.
func (m *keyMap) size() int { return m.used }

// reset empties the map, keeping its memory.
func (m *keyMap) reset() {
	clear(m.slots)
	m.used = 0
}

// find returns the slot of key's hash: its own, or the empty one where it
// would go.
func (m *keyMap) find(a, b uint64) *keySlot {
	n := uint64(len(m.slots))
	i := a % n
	m.lookups++
	for {
		s := &m.slots[i]
		if s.off == 0 || (s.a == a && s.b == b) {
			return s
		}
		m.probeSteps++
		i++
		if i == n {
			i = 0
		}
	}
}

// put records offset as key's latest. It returns false, changing nothing,
// when key is new and the map is full.
func (m *keyMap) put(key []byte, offset int64) bool {
	a, b := maphash.Bytes(m.seedA, key), maphash.Bytes(m.seedB, key)
	s := m.find(a, b)
	if s.off == 0 {
		if m.used >= m.limit {
			return false
		}
		if m.used >= len(m.slots)/2 && len(m.slots) < m.maxSlots {
			m.grow()
			s = m.find(a, b)
		}
		m.used++
		s.a, s.b = a, b
	}
	s.off = offset + 1
	return true
}

// grow doubles the slot array (within maxSlots) and moves the keys over.
func (m *keyMap) grow() {
	old := m.slots
	m.slots = make([]keySlot, min(2*len(old), m.maxSlots))
	for _, s := range old {
		if s.off != 0 {
			*m.find(s.a, s.b) = s
		}
	}
}

// get returns the offset of key's latest record in the map.
func (m *keyMap) get(key []byte) (int64, bool) {
	s := m.find(maphash.Bytes(m.seedA, key), maphash.Bytes(m.seedB, key))
	if s.off == 0 {
		return 0, false
	}
	return s.off - 1, true
}
