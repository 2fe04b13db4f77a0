package datapath

import (
	"fmt"

	"golang.zx2c4.com/wireguard/tun"
)

// OpenTUN creates (or attaches to) the TUN device name with the given MTU.
// The device supports virtio-net offloads where the kernel allows, so reads
// split TSO super-packets and writes coalesce TCP segments (GRO).
func OpenTUN(name string, mtu int) (tun.Device, error) {
	dev, err := tun.CreateTUN(name, mtu)
	if err != nil {
		return nil, fmt.Errorf("create TUN device %s: %w (it needs CAP_NET_ADMIN and /dev/net/tun)", name, err)
	}
	return dev, nil
}
