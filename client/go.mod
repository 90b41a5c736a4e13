module strand.dev/client

go 1.26
