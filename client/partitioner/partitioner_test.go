package partitioner

import (
	"sync"
	"testing"
)

// Kafka's own vectors (UtilsTest.testMurmur2 in the Java client) plus a few
// more computed with an independent implementation of Kafka's algorithm.
var murmur2Vectors = []struct {
	key  string
	hash int32
}{
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
	{"1", -1993445489},
	{"12", 126087238},
	{"123", -267702483},
	{"1234", -1614185708},
	{"12345", -1188365604},
	{"", 275646681},
	{"hello", 2132663229},
}

func TestMurmur2KafkaVectors(t *testing.T) {
	for _, v := range murmur2Vectors {
		if got := Murmur2([]byte(v.key)); got != v.hash {
			t.Errorf("Murmur2(%q) = %d, want %d", v.key, got, v.hash)
		}
	}
}

func TestToPositiveIsNotAbs(t *testing.T) {
	for _, c := range []struct{ in, want int32 }{
		{0, 0}, {1, 1}, {-1, 0x7fffffff}, {-2147483648, 0}, {-973932308, 1173551340},
	} {
		if got := ToPositive(c.in); got != c.want {
			t.Errorf("ToPositive(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

// Key -> partition for partition counts 1, 2, 3, 6, 12, 100: where Kafka's
// default partitioner puts these keys.
func TestKeyPartitionVectors(t *testing.T) {
	counts := []int{1, 2, 3, 6, 12, 100}
	cases := []struct {
		key  string
		want []int
	}{
		{"21", []int{0, 0, 0, 0, 0, 40}},
		{"foobar", []int{0, 0, 0, 0, 6, 66}},
		{"a-little-bit-long-string", []int{0, 0, 2, 2, 8, 12}},
		{"a-little-bit-longer-string", []int{0, 1, 2, 5, 11, 19}},
		{"abc", []int{0, 1, 0, 3, 3, 7}},
		{"1", []int{0, 1, 0, 3, 3, 59}},
		{"12", []int{0, 0, 1, 4, 10, 38}},
		{"hello", []int{0, 1, 0, 3, 9, 29}},
		{"key-0", []int{0, 1, 1, 1, 1, 41}},
		{"key-1", []int{0, 0, 0, 0, 0, 40}},
		{"key-2", []int{0, 0, 2, 2, 2, 2}},
		{"user-42", []int{0, 0, 1, 4, 4, 60}},
		{"", []int{0, 1, 0, 3, 9, 81}},
	}
	for _, c := range cases {
		for i, n := range counts {
			if got := KeyPartition([]byte(c.key), n); got != c.want[i] {
				t.Errorf("KeyPartition(%q, %d) = %d, want %d", c.key, n, got, c.want[i])
			}
		}
	}
}

func TestKeyedRecordsIgnorePolicy(t *testing.T) {
	for name, p := range map[string]Partitioner{"default": Default(), "roundrobin": RoundRobin()} {
		tp := p.ForTopic("t")
		for i := 0; i < 3; i++ {
			if got := tp.Partition([]byte("foobar"), 12); got != 6 {
				t.Errorf("%s: foobar -> %d, want 6", name, got)
			}
			tp.OnNewBatch(6)
		}
		// An empty key is a key, not "no key".
		if got := tp.Partition([]byte{}, 12); got != 9 {
			t.Errorf("%s: empty key -> %d, want 9", name, got)
		}
	}
}

func TestRoundRobinCycles(t *testing.T) {
	tp := RoundRobin().ForTopic("t")
	for i := 0; i < 10; i++ {
		if got := tp.Partition(nil, 4); got != i%4 {
			t.Fatalf("record %d -> %d, want %d", i, got, i%4)
		}
	}
	// A shrinking partition count never yields an out-of-range partition.
	if got := tp.Partition(nil, 1); got != 0 {
		t.Fatalf("n=1 -> %d", got)
	}
}

func TestStickyStaysUntilNewBatch(t *testing.T) {
	tp := Default().ForTopic("t")
	first := tp.Partition(nil, 5)
	for i := 0; i < 100; i++ {
		if got := tp.Partition(nil, 5); got != first {
			t.Fatalf("sticky moved from %d to %d without a new batch", first, got)
		}
	}
	// A new batch on another partition does not move it.
	tp.OnNewBatch((first + 1) % 5)
	if got := tp.Partition(nil, 5); got != first {
		t.Fatalf("sticky moved on a foreign batch: %d -> %d", first, got)
	}
	// A new batch on the sticky partition moves it to a different one.
	for i := 0; i < 50; i++ {
		cur := tp.Partition(nil, 5)
		tp.OnNewBatch(cur)
		next := tp.Partition(nil, 5)
		if next == cur {
			t.Fatalf("sticky stayed on %d after its batch was sealed", cur)
		}
		if next < 0 || next >= 5 {
			t.Fatalf("partition %d out of range", next)
		}
	}
	// With one partition there is nowhere else to go.
	one := Default().ForTopic("t")
	one.OnNewBatch(one.Partition(nil, 1))
	if got := one.Partition(nil, 1); got != 0 {
		t.Fatalf("n=1 -> %d", got)
	}
}

func TestStickyConcurrent(t *testing.T) {
	tp := Default().ForTopic("t")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				p := tp.Partition(nil, 7)
				if p < 0 || p >= 7 {
					t.Errorf("partition %d out of range", p)
					return
				}
				if i%10 == 0 {
					tp.OnNewBatch(p)
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkMurmur2(b *testing.B) {
	key := []byte("user-1234567890")
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		Murmur2(key)
	}
}
