module strand.dev/dataplane

go 1.26.0

replace strand.dev/client => ../client

replace strand.dev/controlplane => ../controlplane
