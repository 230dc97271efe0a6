package rest

import (
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/files"
)

// Resumable uploads over the tus protocol (1.0.0, with its creation and termination
// extensions), at /files/tus as Directus 11 serves them. Upload-Metadata carries the
// file's name (filename) and its fields (title, description, folder, tags as JSON, …);
// the file's id is in the Strata-File-Id header of the answer that completes it (and of
// a HEAD afterwards).

const tusVersion = "1.0.0"

func tusHeaders(c *fiber.Ctx) {
	c.Set("Tus-Resumable", tusVersion)
	c.Set(fiber.HeaderCacheControl, "no-store")
}

// tusCheck refuses a request of another protocol version.
func tusCheck(c *fiber.Ctx) error {
	tusHeaders(c)
	if v := c.Get("Tus-Resumable"); v != tusVersion {
		c.Set("Tus-Version", tusVersion)
		return apierr.New(fiber.StatusPreconditionFailed, "INVALID_PAYLOAD", "Tus-Resumable must be %s", tusVersion)
	}
	return nil
}

// tusOptions answers what this server speaks.
func (a *API) tusOptions(c *fiber.Ctx) error {
	tusHeaders(c)
	c.Set("Tus-Version", tusVersion)
	c.Set("Tus-Extension", "creation,termination")
	if a.Files.MaxUpload > 0 {
		c.Set("Tus-Max-Size", strconv.FormatInt(a.Files.MaxUpload, 10))
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// tusCreate is POST /files/tus: Upload-Length and Upload-Metadata make an upload.
func (a *API) tusCreate(c *fiber.Ctx) error {
	if err := tusCheck(c); err != nil {
		return err
	}
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	length, err := strconv.ParseInt(c.Get("Upload-Length"), 10, 64)
	if err != nil || length < 0 {
		return apierr.InvalidPayload("Upload-Length", "Upload-Length must be the upload's size in bytes (deferred lengths are not supported)")
	}
	meta, err := files.ParseMetadata(c.Get("Upload-Metadata"), base64.StdEncoding.DecodeString)
	if err != nil {
		return err
	}
	filename := meta["filename"]
	if filename == "" {
		filename = meta["name"]
	}
	fields := map[string]any{}
	for k, v := range meta {
		switch k {
		case "filename", "name", "filetype", "type":
			continue // the name is the file's; its type is read from the bytes
		}
		fields[k] = formValue(k, v)
	}
	r, err := a.Files.StartUpload(c.UserContext(), sc, length, filename, fields)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, c.BaseURL()+"/api/t/"+tenantOf(c).t.Slug+"/files/tus/"+r.ID)
	c.Set("Upload-Offset", "0")
	return c.SendStatus(fiber.StatusCreated)
}

// tusHead is HEAD /files/tus/{id}: how far the upload is.
func (a *API) tusHead(c *fiber.Ctx) error {
	if err := tusCheck(c); err != nil {
		return err
	}
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	r, _, err := a.Files.Upload(c.UserContext(), sc, c.Params("id"))
	if err != nil {
		return err
	}
	tusState(c, r)
	return c.SendStatus(fiber.StatusOK)
}

func tusState(c *fiber.Ctx, r *files.Resumable) {
	c.Set("Upload-Offset", strconv.FormatInt(r.Offset, 10))
	c.Set("Upload-Length", strconv.FormatInt(r.Length, 10))
	if r.FileID != "" {
		c.Set("Strata-File-Id", r.FileID)
	}
}

// tusPatch is PATCH /files/tus/{id}: the next chunk, at Upload-Offset.
func (a *API) tusPatch(c *fiber.Ctx) error {
	if err := tusCheck(c); err != nil {
		return closeAfter(c, err)
	}
	if c.Get(fiber.HeaderContentType) != "application/offset+octet-stream" {
		return closeAfter(c, apierr.New(fiber.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "a chunk is sent as application/offset+octet-stream"))
	}
	offset, err := strconv.ParseInt(c.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		return closeAfter(c, apierr.InvalidPayload("Upload-Offset", "Upload-Offset must be the byte the chunk starts at"))
	}
	sc, err := a.scope(c)
	if err != nil {
		return closeAfter(c, err)
	}
	r, err := a.Files.WriteChunk(c.UserContext(), sc, c.Params("id"), offset, uploadBody(c))
	var oe *files.OffsetError
	if errors.As(err, &oe) {
		c.Set("Upload-Offset", strconv.FormatInt(oe.Offset, 10))
		return closeAfter(c, apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "%s; send the chunk from there", oe.Error()).With("offset", oe.Offset))
	}
	if err != nil {
		return closeAfter(c, err)
	}
	tusState(c, r)
	return c.SendStatus(fiber.StatusNoContent)
}

// tusDelete is DELETE /files/tus/{id}: the upload is abandoned.
func (a *API) tusDelete(c *fiber.Ctx) error {
	if err := tusCheck(c); err != nil {
		return err
	}
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	if err := a.Files.EndUpload(c.UserContext(), sc, c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
