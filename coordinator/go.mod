module strand.dev/coordinator

go 1.26

require (
	strand.dev/client v0.0.0
	strand.dev/controlplane v0.0.0
)

replace strand.dev/client => ../client

replace strand.dev/controlplane => ../controlplane
