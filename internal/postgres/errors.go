package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// constraintError is what the violation of one named constraint means to
// the person who caused it: a market code, the input field it concerns
// ("" for none) and a message fit to show beside that field.
type constraintError struct {
	code, field, message string
}

// constraints is the one table from the schema's constraint names to what
// their violations mean. The domain checks the same rules first, so a
// check violation here means the two disagree; still, the user gets a
// message beside the right field, never the constraint's name. Unique
// constraints are how the database answers "that is taken", and each gets
// its own answer (an email in use, a repeated idempotency key, ...).
// TestEveryConstraintHasAnEntry fails for a constraint missing here, so a
// migration that adds one must add its line.
var constraints = map[string]constraintError{
	"listings_pkey":              {market.ECONFLICT, "", "That listing already exists."},
	"listings_name_check":        {market.EINVALID, "name", "Name must be 1 to 200 characters"},
	"listings_description_check": {market.EINVALID, "description", "Description must be at most 5,000 characters"},
	"listings_price_cents_check": {market.EINVALID, "price", "Price must be between 0.01 and 1,000,000.00"},
	"listings_currency_check":    {market.EINVALID, "currency", "Currency must be an ISO 4217 code in use, such as USD, EUR or JPY"},
	"listings_quantity_check":    {market.EINVALID, "quantity", "Quantity must be between 0 and 100,000"},
	"listings_version_check":     {market.EINTERNAL, "", "A listing's version is a positive number."}, // only the trigger writes it
	"listings_seller_id_fkey":    {market.EINVALID, "seller_id", "The seller does not exist"},
	"listings_category_id_fkey":  {market.EINVALID, "category", "Choose one of the listed categories"},
	"listings_condition_check":   {market.EINVALID, "condition", "Condition must be new, used or handmade"},

	"categories_pkey":           {market.ECONFLICT, "", "That category already exists."},
	"categories_slug_key":       {market.ECONFLICT, "slug", "A category with that slug already exists."},
	"categories_slug_check":     {market.EINVALID, "slug", "A slug is lower-case words joined by hyphens"},
	"categories_name_check":     {market.EINVALID, "name", "Name must be 1 to 60 characters"},
	"categories_parent_id_fkey": {market.EINVALID, "parent", "The parent category does not exist"},
	"search_words_pkey":         {market.ECONFLICT, "", "That word is already counted."},

	// Photos. The store counts a listing's photos under its row lock, so
	// the position limit speaks only if that check is ever bypassed.
	"listing_photos_pkey":                    {market.ECONFLICT, "", "That photo already exists."},
	"listing_photos_listing_id_fkey":         {market.ENOTFOUND, "", "Listing not found."},
	"listing_photos_position_check":          {market.EINVALID, "photo", "A listing can have at most 10 photos; delete one to add another."},
	"listing_photos_listing_id_position_key": {market.ECONFLICT, "", "Someone else changed these photos at the same moment. Please try again."},
	"listing_photos_width_check":             {market.EINTERNAL, "", "A photo's size comes from its decoded image."},
	"listing_photos_height_check":            {market.EINTERNAL, "", "A photo's size comes from its decoded image."},
	"photo_variants_pkey":                    {market.EINTERNAL, "", "A photo has one stored image per width."},
	"photo_variants_photo_id_fkey":           {market.ENOTFOUND, "", "Photo not found."},
	"photo_variants_width_check":             {market.EINTERNAL, "", "A stored image's size comes from its encoder."},
	"photo_variants_height_check":            {market.EINTERNAL, "", "A stored image's size comes from its encoder."},
	"photo_variants_key_key":                 {market.EINTERNAL, "", "Every stored image has a key of its own."},
	"photo_variants_content_type_check":      {market.EINTERNAL, "", "Stored images are JPEG or PNG."},
	"blob_garbage_pkey":                      {market.EINTERNAL, "", "That object is already waiting for deletion."},

	"users_pkey":               {market.ECONFLICT, "", "That account already exists."},
	"users_email_key":          {market.ECONFLICT, "email", "An account with that email already exists."},
	"users_email_check":        {market.EINVALID, "email", "Email must be at most 254 characters"},
	"users_display_name_check": {market.EINVALID, "display_name", "Display name must be 1 to 50 characters"},

	"sessions_pkey":              {market.ECONFLICT, "", "That session already exists."},
	"user_sessions_pkey":         {market.ECONFLICT, "", "That session already exists."},
	"user_sessions_user_id_fkey": {market.ENOTFOUND, "", "That account does not exist."},

	"api_tokens_pkey":         {market.ECONFLICT, "", "That token already exists."},
	"api_tokens_hash_key":     {market.ECONFLICT, "", "That token already exists."},
	"api_tokens_name_check":   {market.EINVALID, "name", "Name must be 1 to 100 characters"},
	"api_tokens_user_id_fkey": {market.ENOTFOUND, "", "That account does not exist."},

	"login_failures_pkey": {market.ECONFLICT, "", "That attempt is already recorded."},

	"password_resets_pkey":         {market.ECONFLICT, "", "That reset link already exists."},
	"password_resets_hash_key":     {market.ECONFLICT, "", "That reset link already exists."},
	"password_resets_user_id_fkey": {market.ENOTFOUND, "", "That account does not exist."},

	"mail_outbox_pkey": {market.ECONFLICT, "", "That message already exists."},

	// Buying. Checkout's conditional update keeps listings_quantity_check
	// from ever firing there; the cart and orders tables repeat the
	// domain's rules (market.NormalizeLines, ValidateTrackingNote).
	"cart_items_pkey":                    {market.ECONFLICT, "", "That listing is already in the cart."},
	"cart_items_user_id_fkey":            {market.ENOTFOUND, "", "That account does not exist."},
	"cart_items_quantity_check":          {market.EINVALID, "quantity", "Quantity must be between 1 and 100,000"},
	"orders_pkey":                        {market.ECONFLICT, "", "That order already exists."},
	"orders_buyer_id_fkey":               {market.ENOTFOUND, "", "That account does not exist."},
	"orders_seller_id_fkey":              {market.ENOTFOUND, "", "That seller does not exist."},
	"orders_status_check":                {market.EINTERNAL, "", "An order's status is one of placed, shipped, delivered, cancelled."}, // only the store writes it
	"orders_currency_check":              {market.EINTERNAL, "", "An order's currency is copied from its listings."},
	"orders_total_cents_check":           {market.EINTERNAL, "", "An order's total is the sum of its items."},
	"orders_tracking_check":              {market.EINVALID, "tracking", "Tracking note must be at most 500 characters"},
	"orders_buyer_not_seller_check":      {market.EINVALID, "listing_id", "You cannot buy your own listing."},
	"order_items_pkey":                   {market.EINTERNAL, "", "An order has one item per listing."},
	"order_items_order_id_fkey":          {market.ENOTFOUND, "", "Order not found."},
	"order_items_unit_price_cents_check": {market.EINTERNAL, "", "An item's price is copied from its listing."},
	"order_items_quantity_check":         {market.EINVALID, "quantity", "Quantity must be between 1 and 100,000"},
	"order_events_pkey":                  {market.EINTERNAL, "", "An order event is written once."},
	"order_events_order_id_fkey":         {market.ENOTFOUND, "", "Order not found."},
	"order_events_status_check":          {market.EINTERNAL, "", "An order event names a status."},
	"order_events_actor_id_fkey":         {market.ENOTFOUND, "", "That account does not exist."},
	"idempotency_keys_pkey":              {market.ECONFLICT, "", "A request with this Idempotency-Key is still being processed. Try again in a moment."},
	"idempotency_keys_user_id_fkey":      {market.ENOTFOUND, "", "That account does not exist."},
	"idempotency_keys_key_check":         {market.EINVALID, "idempotency_key", "Must be 1 to 255 characters"},
}

// translate maps a driver error into market's vocabulary, once, at the
// store's edge:
//   - no rows: ENOTFOUND;
//   - a named constraint: its entry in the constraints table;
//   - text the database cannot store (NUL, invalid encoding), a value of
//     the wrong form: EINVALID without naming the column;
//   - serialization failures and deadlocks: ECONFLICT, try again;
//   - an unreachable, shutting-down or too slow database: EUNAVAILABLE;
//   - a cancelled context (the client went away): the error as it is,
//     still matching context.Canceled, for the web layer to log as an abort;
//   - anything else, an unknown constraint included: the error as it is,
//     which market reports as EINTERNAL (logged, shown generically).
//
// Market errors pass through unchanged, so translating twice is harmless.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var me *market.Error
	if errors.As(err, &me) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return market.Errorf(market.ENOTFOUND, "Not found.")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if ce, ok := constraints[pgErr.ConstraintName]; ok && pgErr.ConstraintName != "" {
			e := &market.Error{Code: ce.code, Message: ce.message}
			if ce.field != "" {
				// Beside the field, whatever the code: a taken email is a
				// conflict, and the sign-up form shows it under the email.
				e.Fields = map[string]string{ce.field: ce.message}
			}
			if ce.code == market.EINVALID {
				e.Message = "Please correct the highlighted fields."
			}
			return fmt.Errorf("%w: %w", e, err)
		}
		switch {
		case pgErr.Code == "22021": // character_not_in_repertoire: NUL or invalid UTF-8
			return fmt.Errorf("%w: %w", market.Errorf(market.EINVALID, "Text must be valid UTF-8 without NUL characters."), err)
		case pgErr.Code == "22001", pgErr.Code == "22P02", pgErr.Code == "22003": // too long, malformed, out of range
			return fmt.Errorf("%w: %w", market.Errorf(market.EINVALID, "A value is too long or not of the right form."), err)
		case pgErr.Code == "40001", pgErr.Code == "40P01":
			return fmt.Errorf("%w: %w", market.Errorf(market.ECONFLICT, "Too many people are changing this at once. Please try again."), err)
		case pgErr.Code[:2] == "08", pgErr.Code[:2] == "57": // connection exception, operator intervention (shutdown, statement timeout)
			return fmt.Errorf("%w: %w", unavailable(), err)
		}
		return err
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", unavailable(), err)
	}
	return err
}

func unavailable() *market.Error {
	return market.Errorf(market.EUNAVAILABLE, "The service is briefly unavailable. Please try again in a moment.")
}
