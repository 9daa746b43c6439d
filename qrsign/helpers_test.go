package qrsign

import (
	"encoding/pem"
	"errors"
)

func certsPEMBlock(b []byte) ([]byte, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	return blk.Bytes, nil
}
