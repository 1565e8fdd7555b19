package market_test

import (
	"slices"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
)

func TestNormalizeLines(t *testing.T) {
	for _, tt := range []struct {
		name  string
		in    []market.Line
		want  []market.Line
		field string
	}{
		{"merged and sorted", []market.Line{{ListingID: 9, Quantity: 1}, {ListingID: 2, Quantity: 2}, {ListingID: 9, Quantity: 3}},
			[]market.Line{{ListingID: 2, Quantity: 2}, {ListingID: 9, Quantity: 4}}, ""},
		{"none", nil, nil, "items"},
		{"zero quantity", []market.Line{{ListingID: 1, Quantity: 0}}, nil, "quantity"},
		{"bad id", []market.Line{{ListingID: -1, Quantity: 1}}, nil, "listing_id"},
		{"sum too big", []market.Line{{ListingID: 1, Quantity: 100_000}, {ListingID: 1, Quantity: 1}}, nil, "quantity"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := market.NormalizeLines(tt.in)
			if tt.field != "" {
				if market.ErrorFields(err)[tt.field] == "" {
					t.Fatalf("err = %v, want a message beside %s", err, tt.field)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	many := make([]market.Line, market.MaxCartLines+1)
	for i := range many {
		many[i] = market.Line{ListingID: int64(i + 1), Quantity: 1}
	}
	if _, err := market.NormalizeLines(many); market.ErrorFields(err)["items"] == "" {
		t.Errorf("%d lines: %v, want refused", len(many), err)
	}
}

func TestTransitionError(t *testing.T) {
	o := &market.Order{BuyerID: 1, SellerID: 2, Status: market.StatusCancelled}
	for _, tt := range []struct {
		actor  int64
		action string
		code   string
	}{
		{1, market.ActionShip, market.EFORBIDDEN},
		{2, market.ActionShip, market.ECONFLICT},
		{2, market.ActionDeliver, market.EFORBIDDEN},
		{1, market.ActionDeliver, market.ECONFLICT},
		{1, market.ActionCancel, market.ECONFLICT},
		{2, market.ActionCancel, market.ECONFLICT},
	} {
		if err := market.TransitionError(o, tt.actor, tt.action); market.ErrorCode(err) != tt.code {
			t.Errorf("%s by %d: %v, want %s", tt.action, tt.actor, err, tt.code)
		}
	}
}

func TestCartItemCheck(t *testing.T) {
	for _, tt := range []struct {
		it   market.CartItem
		want string
	}{
		{market.CartItem{Quantity: 1, Stock: 2, SellerID: 5}, ""},
		{market.CartItem{Quantity: 3, Stock: 2, SellerID: 5}, "Only 2 left."},
		{market.CartItem{Quantity: 1, Stock: 0, SellerID: 5}, "Sold out."},
		{market.CartItem{Quantity: 1, Deleted: true}, "This listing is no longer for sale."},
		{market.CartItem{Quantity: 1, Stock: 2, SellerID: 7}, "This is your own listing."},
	} {
		tt.it.Check(7)
		if tt.it.Problem != tt.want {
			t.Errorf("%+v: problem %q, want %q", tt.it, tt.it.Problem, tt.want)
		}
	}
}

func TestOutOfStockErrorIsAConflict(t *testing.T) {
	err := error(&market.OutOfStockError{Lines: []market.Shortage{{ListingID: 1, Name: "Lamp", Requested: 3, Available: 1}}})
	if market.ErrorCode(err) != market.ECONFLICT || market.ErrorMessage(err) == "" {
		t.Errorf("code %s, message %q", market.ErrorCode(err), market.ErrorMessage(err))
	}
	if got := err.(*market.OutOfStockError).Lines[0].String(); got != "Lamp: you asked for 3, only 1 left." {
		t.Errorf("shortage reads %q", got)
	}
}
