package files

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/records"
	"strata/schema"
)

// maxFolderDepth bounds the walk up a folder's parents.
const maxFolderDepth = 64

// KeepFolders is a records hook (before the write commits) that keeps the folder tree
// whole, whichever surface writes: a file's folder and a folder's parent must be
// folders that exist, a folder cannot be inside itself, and deleting folders moves what
// they held (files and folders) to the top.
func (s *Service) KeepFolders(ctx context.Context, q schema.Querier, w *records.Write) error {
	d := w.Scope.DB.Dialect
	if w.Action == "delete" {
		if w.Table.Name != Folders || len(w.IDs) == 0 {
			return nil
		}
		marks := schema.Placeholders(len(w.IDs))
		args := make([]any, len(w.IDs))
		for i, id := range w.IDs {
			args[i] = id
		}
		for table, column := range map[string]string{Table: "folder", Folders: "parent"} {
			if _, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(table)+" SET "+d.Quote(column)+" = NULL WHERE "+d.Quote(column)+" IN ("+marks+")"), args...); err != nil {
				return fmt.Errorf("empty the deleted folders: %w", err)
			}
		}
		return nil
	}
	field := "folder"
	if w.Table.Name == Folders {
		field = "parent"
	}
	for _, data := range w.Data {
		v, ok := data[field]
		if !ok || v == nil {
			continue
		}
		target, _ := v.(string)
		if target == "" {
			continue
		}
		// Walk up from the target: it must exist, and not lead back to a written folder.
		at := target
		for depth := 0; at != ""; depth++ {
			if w.Table.Name == Folders && slices.ContainsFunc(w.IDs, func(id string) bool { return strings.EqualFold(id, at) }) {
				return apierr.InvalidPayload("parent", "a folder cannot be inside itself")
			}
			if depth > maxFolderDepth {
				return apierr.InvalidPayload(field, "folders nest at most %d deep", maxFolderDepth)
			}
			var parent any
			err := q.QueryRowContext(ctx, d.Rebind("SELECT "+d.Quote("parent")+" FROM "+d.Quote(Folders)+" WHERE "+d.Quote("id")+" = ?"), at).Scan(&parent)
			if err != nil {
				if depth == 0 {
					return apierr.InvalidPayload(field, "folder %q does not exist", target)
				}
				return fmt.Errorf("walk up the folders: %w", err)
			}
			at = database.Text(parent)
		}
	}
	return nil
}
