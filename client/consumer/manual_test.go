package consumer

import "strand.dev/client/partitioner"

// manual is partitioner.Manual, named for the tests' producer.
type manual = partitioner.ManualPartitioner
