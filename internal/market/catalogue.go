package market

import "strings"

// Conditions a listing can be in. The database repeats the list as a CHECK.
const (
	ConditionNew      = "new"
	ConditionUsed     = "used"
	ConditionHandmade = "handmade"
	// DefaultCondition is what a listing gets when its writer does not say
	// (listings from before conditions existed, API clients that predate
	// them): "used" claims the least.
	DefaultCondition = ConditionUsed
)

// Conditions lists the conditions in the order forms offer them.
var Conditions = []string{ConditionNew, ConditionUsed, ConditionHandmade}

// ValidCondition reports whether c is one of Conditions.
func ValidCondition(c string) bool {
	for _, k := range Conditions {
		if c == k {
			return true
		}
	}
	return false
}

// ConditionLabel is how pages name a condition.
func ConditionLabel(c string) string {
	switch c {
	case ConditionNew:
		return "New"
	case ConditionUsed:
		return "Used"
	case ConditionHandmade:
		return "Handmade"
	}
	return c
}

// DefaultCategory is the slug of the leaf a listing goes to when its writer
// names none ("Other"): listings from before categories, API clients that
// predate them. The sell form always sends the field, so there a choice is
// required.
const DefaultCategory = "other"

// Category is a node of the two-level category tree. Top-level categories
// have ParentID 0 and Children; listings belong to leaves.
type Category struct {
	ID       int
	ParentID int
	Slug     string
	Name     string
	Children []*Category
	Parent   *Category
}

// Leaf reports whether listings may belong to c.
func (c *Category) Leaf() bool { return c.ParentID != 0 }

// Tree is the whole category tree, indexed both ways.
type Tree struct {
	Top    []*Category // in menu order
	byID   map[int]*Category
	bySlug map[string]*Category
}

// NewTree links cats (each top-level category before its children, both in
// menu order) into a Tree.
func NewTree(cats []*Category) *Tree {
	t := &Tree{byID: map[int]*Category{}, bySlug: map[string]*Category{}}
	for _, c := range cats {
		t.byID[c.ID], t.bySlug[c.Slug] = c, c
	}
	for _, c := range cats {
		if p := t.byID[c.ParentID]; c.ParentID != 0 && p != nil {
			c.Parent = p
			p.Children = append(p.Children, c)
		} else if c.ParentID == 0 {
			t.Top = append(t.Top, c)
		}
	}
	return t
}

// ByID returns the category with that id, or nil.
func (t *Tree) ByID(id int) *Category { return t.byID[id] }

// BySlug returns the category with that slug, or nil.
func (t *Tree) BySlug(slug string) *Category { return t.bySlug[slug] }

// Leaves returns every leaf, grouped by top-level category, in menu order.
func (t *Tree) Leaves() []*Category {
	var out []*Category
	for _, top := range t.Top {
		out = append(out, top.Children...)
	}
	return out
}

func checkCondition(p Problems, key, c string) string {
	c = strings.TrimSpace(c)
	switch {
	case c == "":
		p.Add(key, "Choose a condition: new, used or handmade")
	case !ValidCondition(c):
		p.Add(key, "Condition must be new, used or handmade")
	}
	return c
}

// checkCategory checks the form of a category slug; whether it names a
// leaf is the store's to say, since the tree lives in the database.
func checkCategory(p Problems, key, slug string) string {
	slug = strings.TrimSpace(slug)
	if slug == "" {
		p.Add(key, "Choose a category")
	} else if len(slug) > 60 {
		p.Add(key, "Choose one of the listed categories")
	}
	return slug
}

// UnknownCategory is the store's answer for a slug that names no leaf.
func UnknownCategory(key string) error {
	p := Problems{}
	p.Add(key, "Choose one of the listed categories")
	return p.Err()
}
