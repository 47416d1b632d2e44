package virtionet

// Regs is a virtio-mmio transport's register file (4.2.2). Offsets are
// relative to the transport's base address. Control registers are accessed
// 32 bits wide; the device-specific configuration space byte by byte
// (4.2.2.2: "the driver MUST use 8 bit wide accesses for 8 bit wide fields").
type Regs interface {
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
	Read8(off uint32) uint8
}

// DMA hands out memory the device can address.
type DMA interface {
	// Alloc returns size zeroed bytes aligned to align (a power of two)
	// in both address spaces, and their bus (physical) address. The
	// memory stays valid, and stays at that address, for the life of
	// the program.
	Alloc(size, align int) (buf []byte, pa uint64, err error)
}

// Virtio-mmio register offsets (4.2.2 "MMIO Device Register Layout").
const (
	regMagicValue        = 0x000 // R: 0x74726976 ("virt")
	regVersion           = 0x004 // R: 2 for virtio 1.x, 1 for legacy
	regDeviceID          = 0x008 // R: 5 "Device Types"; 0 = no device
	regVendorID          = 0x00c // R
	regDeviceFeatures    = 0x010 // R: 32 feature bits selected by DeviceFeaturesSel
	regDeviceFeaturesSel = 0x014 // W
	regDriverFeatures    = 0x020 // W: 32 feature bits selected by DriverFeaturesSel
	regDriverFeaturesSel = 0x024 // W
	regQueueSel          = 0x030 // W: which virtqueue the Queue* registers address
	regQueueNumMax       = 0x034 // R: largest queue size; 0 = queue not available
	regQueueNum          = 0x038 // W: queue size the driver uses
	regQueueReady        = 0x044 // RW: 1 = the queue may be used
	regQueueNotify       = 0x050 // W: queue index with new available buffers
	regInterruptStatus   = 0x060 // R: bit 0 used buffer, bit 1 configuration change
	regInterruptACK      = 0x064 // W
	regStatus            = 0x070 // RW: device status (2.1); writing 0 resets
	regQueueDescLow      = 0x080 // W: descriptor area address, low and high 32 bits
	regQueueDescHigh     = 0x084
	regQueueDriverLow    = 0x090 // W: driver (available ring) area address
	regQueueDriverHigh   = 0x094
	regQueueDeviceLow    = 0x0a0 // W: device (used ring) area address
	regQueueDeviceHigh   = 0x0a4
	regConfigGeneration  = 0x0fc // R: changes when the configuration space changes
	regConfig            = 0x100 // device-specific configuration space
)

// Identification values (4.2.2).
const (
	magicValue    = 0x74726976 // little-endian "virt"
	versionModern = 2          // virtio 1.x register layout
	versionLegacy = 1          // pre-1.0 layout (QEMU's default: force-legacy=true)
)

// Device types (5 "Device Types").
const (
	DeviceIDNone    = 0 // the transport has no device behind it
	DeviceIDNetwork = 1
)

// Device status bits (2.1 "Device Status Field").
const (
	statusAcknowledge      = 1   // the guest noticed the device
	statusDriver           = 2   // the guest knows how to drive it
	statusDriverOK         = 4   // the driver is set up and ready
	statusFeaturesOK       = 8   // feature negotiation is complete
	statusDeviceNeedsReset = 64  // the device hit an error it cannot recover from
	statusFailed           = 128 // the driver gave up on the device
)
