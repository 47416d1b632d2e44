// Package guest plans how the guest OS is started: it parses Ferry's own
// options out of the board's command line, checks the arm64 Linux Image
// header, lays out guest RAM (patched DTB, kernel, initramfs), and derives
// the guest's DTB patch and stage-2 map from the board description.
//
// It is pure logic over bytes and numbers; the board and hypervisor packages
// apply the plan to the hardware.
package guest
