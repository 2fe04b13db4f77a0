// Package pcapfile reads the classic libpcap capture files kept under
// testdata/captures and splits them into the PPTP control messages and GRE
// packets that the codec tests replay. It exists for tests only.
package pcapfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
)

// Packet is one captured Ethernet frame reduced to its IPv4 layer.
type Packet struct {
	Index    int        // 0-based frame number in the file
	Src, Dst netip.Addr // IPv4 source and destination
	Proto    uint8      // IP protocol number (6 TCP, 47 GRE)
	Payload  []byte     // IP payload: the TCP segment or GRE packet
}

// Read parses a pcap file with Ethernet (linktype 1), Linux cooked (113) or
// raw IPv4 (101/228) framing and returns its IPv4 packets. Non-IPv4 frames are skipped.
func Read(path string) ([]Packet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse is Read over an in-memory file.
func Parse(data []byte) ([]Packet, error) {
	if len(data) < 24 {
		return nil, errors.New("pcap: short file header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, errors.New("pcap: bad magic")
	}
	link := bo.Uint32(data[20:])
	var out []Packet
	off := 24
	for i := 0; off < len(data); i++ {
		if off+16 > len(data) {
			return nil, fmt.Errorf("pcap: frame %d: short record header", i)
		}
		incl := int(bo.Uint32(data[off+8:]))
		off += 16
		if incl < 0 || off+incl > len(data) {
			return nil, fmt.Errorf("pcap: frame %d: truncated", i)
		}
		frame := data[off : off+incl]
		off += incl
		var ip []byte
		switch link {
		case 1: // Ethernet
			if len(frame) < 14 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
				continue
			}
			ip = frame[14:]
		case 113: // Linux cooked capture (a ppp interface)
			if len(frame) < 16 || binary.BigEndian.Uint16(frame[14:]) != 0x0800 {
				continue
			}
			ip = frame[16:]
		case 101, 228: // raw IPv4
			ip = frame
		default:
			return nil, fmt.Errorf("pcap: unsupported link type %d", link)
		}
		if len(ip) < 20 || ip[0]>>4 != 4 {
			continue
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) {
			continue
		}
		out = append(out, Packet{
			Index:   i,
			Src:     netip.AddrFrom4([4]byte(ip[12:16])),
			Dst:     netip.AddrFrom4([4]byte(ip[16:20])),
			Proto:   ip[9],
			Payload: ip[ihl:total],
		})
	}
	return out, nil
}

// GRE returns the payloads of the GRE packets (IP protocol 47) in order.
func GRE(pkts []Packet) []Packet {
	var out []Packet
	for _, p := range pkts {
		if p.Proto == 47 {
			out = append(out, p)
		}
	}
	return out
}

// Stream is the reassembled byte stream of one direction of a TCP connection.
type Stream struct {
	Src, Dst netip.AddrPort
	Data     []byte
}

// TCPStreams reassembles the TCP payload of every connection to or from port
// in capture order, one Stream per direction. It relies on the captures being
// loss-free and in order, which holds for the veth captures it is used on.
func TCPStreams(pkts []Packet, port uint16) []Stream {
	type key struct{ src, dst netip.AddrPort }
	idx := map[key]int{}
	var out []Stream
	for _, p := range pkts {
		if p.Proto != 6 || len(p.Payload) < 20 {
			continue
		}
		sp := binary.BigEndian.Uint16(p.Payload[0:])
		dp := binary.BigEndian.Uint16(p.Payload[2:])
		if sp != port && dp != port {
			continue
		}
		doff := int(p.Payload[12]>>4) * 4
		if doff < 20 || doff > len(p.Payload) {
			continue
		}
		k := key{netip.AddrPortFrom(p.Src, sp), netip.AddrPortFrom(p.Dst, dp)}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Stream{Src: k.src, Dst: k.dst})
		}
		out[i].Data = append(out[i].Data, p.Payload[doff:]...)
	}
	return out
}

// Dir returns the directory testdata/captures of the module, found by walking
// up from the working directory to go.mod.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "captures"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pcapfile: go.mod not found above working directory")
		}
		dir = parent
	}
}

// All returns the paths of every .pcap file under Dir, sorted.
func All() ([]string, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	m, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	sort.Strings(m)
	return m, err
}
