module github.com/ferry-hv/ferry

go 1.26.0

require (
	github.com/u-root/u-root v0.16.0
	gvisor.dev/gvisor v0.0.0-20260122175437-89a5d21be8f0
)

require (
	github.com/google/btree v1.1.2 // indirect
	github.com/pierrec/lz4/v4 v4.1.22 // indirect
	github.com/u-root/uio v0.0.0-20240224005618-d2acac8f3701 // indirect
	github.com/usbarmory/tamago v1.26.0 // indirect
	golang.org/x/exp v0.0.0-20250305212735-054e65f0b394 // indirect
	golang.org/x/sys v0.41.0 // indirect
	golang.org/x/time v0.12.0 // indirect
)

tool github.com/usbarmory/tamago/cmd/tamago
