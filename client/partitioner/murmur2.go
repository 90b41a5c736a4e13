package partitioner

// Murmur2 is Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2):
// MurmurHash2, 32 bits, seed 0x9747b28c, little-endian blocks of four bytes.
// It returns the signed value Java returns.
func Murmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	// The tail falls through as in Kafka's switch: 3 bytes, then 2, then 1.
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// ToPositive is Kafka's Utils.toPositive: the hash with its sign bit cleared.
// (It is not the absolute value: ToPositive(-1) is 0x7fffffff.)
func ToPositive(h int32) int32 { return h & 0x7fffffff }

// KeyPartition is the partition Kafka's default partitioner gives a record
// with this (non-nil) key in a topic of n partitions:
// ToPositive(Murmur2(key)) % n. n must be positive.
func KeyPartition(key []byte, n int) int {
	return int(ToPositive(Murmur2(key))) % n
}
