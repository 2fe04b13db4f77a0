package datapath

import (
	"fmt"
	"os"

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
	// Without IPV6CP the link carries IPv4 only; keep the kernel from
	// giving the device a link-local address and sending IPv6 into it.
	if real, err := dev.Name(); err == nil {
		os.WriteFile("/proc/sys/net/ipv6/conf/"+real+"/disable_ipv6", []byte("1"), 0)
	}
	return dev, nil
}
