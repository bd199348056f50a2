// Package pgcodec teaches pgx the two value types the generated code uses:
// google/uuid's UUID and shopspring/decimal's Decimal and NullDecimal, in
// PostgreSQL's binary format.
//
// pgx has no plan of its own for them. Both implement database/sql's
// Scanner, which pgx consults before the wrapping plans that
// pgx-shopspring-decimal registers, so a scan decodes the value, formats it
// as text and has Scan parse the text back; and a uuid.UUID argument is a
// driver.Valuer, which pgx formats as text. For a thousand rows of lots that
// is most of the client's work. The codecs here plan those types directly:
// a UUID is 16 bytes each way, a decimal goes through
// pgx-shopspring-decimal's binary NUMERIC support.
package pgcodec

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// Register registers the codecs on m: pgx-shopspring-decimal's
// registration first, then uuid, uuid[], numeric and numeric[] types whose
// codecs plan uuid.UUID, *decimal.Decimal and *decimal.NullDecimal directly.
// Call it on every new connection (pgxpool.Config.AfterConnect).
func Register(m *pgtype.Map) {
	pgxdecimal.Register(m)

	u := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}}
	m.RegisterType(u)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: &pgtype.ArrayCodec{ElementType: u}})
	// The exec and simple-protocol modes (PgBouncer) send arguments without
	// asking the server their types: pgx must know them from the Go types.
	m.RegisterDefaultPgType(uuid.UUID{}, "uuid")
	m.RegisterDefaultPgType([]uuid.UUID{}, "_uuid")

	n := &pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: numericCodec{}}
	m.RegisterType(n)
	m.RegisterType(&pgtype.Type{Name: "_numeric", OID: pgtype.NumericArrayOID, Codec: &pgtype.ArrayCodec{ElementType: n}})
}

// uuidCodec is pgx's UUIDCodec that also takes uuid.UUID in binary.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok {
		if format == pgtype.BinaryFormatCode {
			return encodeUUID{}
		}
		return encodeUUIDText{}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok {
		if format == pgtype.BinaryFormatCode {
			return scanUUID{}
		}
		return scanUUIDText{}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeUUID struct{}

func (encodeUUID) Encode(value any, buf []byte) ([]byte, error) {
	u := value.(uuid.UUID)
	return append(buf, u[:]...), nil
}

type encodeUUIDText struct{}

func (encodeUUIDText) Encode(value any, buf []byte) ([]byte, error) {
	return append(buf, value.(uuid.UUID).String()...), nil
}

type scanUUID struct{}

func (scanUUID) Scan(src []byte, dst any) error {
	if src == nil {
		return errNullUUID
	}
	if len(src) != 16 {
		return fmt.Errorf("invalid length for uuid: %d", len(src))
	}
	copy(dst.(*uuid.UUID)[:], src)
	return nil
}

type scanUUIDText struct{}

func (scanUUIDText) Scan(src []byte, dst any) error {
	if src == nil {
		return errNullUUID
	}
	u, err := uuid.ParseBytes(src)
	if err != nil {
		return err
	}
	*dst.(*uuid.UUID) = u
	return nil
}

// errNullUUID: database/sql's Scan on uuid.UUID leaves the zero UUID for a
// NULL without a word; a NULL where the schema allows none is an error.
var errNullUUID = errors.New("cannot scan NULL into *uuid.UUID")

// numericCodec is pgx-shopspring-decimal's codec that also plans scans into
// *decimal.Decimal and *decimal.NullDecimal, by way of that package's
// pgxdecimal.Decimal and NullDecimal, which have the same memory layout.
type numericCodec struct{ pgxdecimal.NumericCodec }

func (c numericCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	switch target.(type) {
	case *decimal.Decimal:
		if next := c.NumericCodec.PlanScan(m, oid, format, (*pgxdecimal.Decimal)(nil)); next != nil {
			return scanDecimal{next}
		}
	case *decimal.NullDecimal:
		if next := c.NumericCodec.PlanScan(m, oid, format, (*pgxdecimal.NullDecimal)(nil)); next != nil {
			return scanNullDecimal{next}
		}
	}
	return c.NumericCodec.PlanScan(m, oid, format, target)
}

type scanDecimal struct{ next pgtype.ScanPlan }

func (p scanDecimal) Scan(src []byte, dst any) error {
	return p.next.Scan(src, (*pgxdecimal.Decimal)(dst.(*decimal.Decimal)))
}

type scanNullDecimal struct{ next pgtype.ScanPlan }

func (p scanNullDecimal) Scan(src []byte, dst any) error {
	return p.next.Scan(src, (*pgxdecimal.NullDecimal)(dst.(*decimal.NullDecimal)))
}
