package photo

import "encoding/binary"

// orientation reads tag 0x0112 from IFD0 of a TIFF-structured EXIF block.
// Anything malformed means 1 (no transform), which is what browsers do; the
// block itself is never copied to an output.
func orientation(tiff []byte) int {
	o, err := readOrientation(tiff)
	if err != nil || o < 1 || o > 8 {
		return 1
	}
	return o
}

func readOrientation(t []byte) (int, error) {
	if len(t) < 8 {
		return 0, errNotExif
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0, errNotExif
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0, errNotExif
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 0, errNotExif
	}
	n := int64(bo.Uint16(t[off:]))
	for k := int64(0); k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(t)) {
			return 0, errNotExif
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		// Type SHORT (3), count 1: the value sits in the first two bytes
		// of the value field.
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) != 1 {
			return 0, errNotExif
		}
		return int(bo.Uint16(t[e+8:])), nil
	}
	return 1, nil
}
