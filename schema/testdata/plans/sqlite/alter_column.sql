-- up
CREATE TABLE "_strata_tmp_posts" ("id" UUID NOT NULL, "owner_id" UUID, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "title" VARCHAR(100) NOT NULL CHECK (length("title") <= 100), "views" INTEGER DEFAULT 0, "status" VARCHAR(255) NOT NULL DEFAULT 'draft', "price" NUMERIC(10,2), "author" UUID, PRIMARY KEY ("id"), CONSTRAINT "strata_fk_97e5becc0f2f" FOREIGN KEY ("author") REFERENCES "authors" ("id") ON DELETE SET NULL);
INSERT INTO "_strata_tmp_posts" ("id", "owner_id", "created_at", "updated_at", "title", "views", "status", "price", "author") SELECT "id", "owner_id", "created_at", "updated_at", "title", "views", "status", "price", "author" FROM "posts";
DROP TABLE "posts";
ALTER TABLE "_strata_tmp_posts" RENAME TO "posts";
CREATE INDEX "strata_ix_ffe14fa544f8" ON "posts" ("views", "id");
CREATE INDEX "strata_ix_1fb730f150d3" ON "posts" ("author", "id");
CREATE INDEX "posts_status_created_at_idx" ON "posts" ("status", "created_at");
-- down
CREATE TABLE "_strata_tmp_posts" ("id" UUID NOT NULL, "owner_id" UUID, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "title" VARCHAR(200) NOT NULL CHECK (length("title") <= 200), "views" INTEGER DEFAULT 0, "status" VARCHAR(255) NOT NULL DEFAULT 'draft', "price" NUMERIC(10,2), "author" UUID, PRIMARY KEY ("id"), CONSTRAINT "strata_fk_97e5becc0f2f" FOREIGN KEY ("author") REFERENCES "authors" ("id") ON DELETE SET NULL);
INSERT INTO "_strata_tmp_posts" ("id", "owner_id", "created_at", "updated_at", "title", "views", "status", "price", "author") SELECT "id", "owner_id", "created_at", "updated_at", "title", "views", "status", "price", "author" FROM "posts";
DROP TABLE "posts";
ALTER TABLE "_strata_tmp_posts" RENAME TO "posts";
CREATE INDEX "strata_ix_ffe14fa544f8" ON "posts" ("views", "id");
CREATE INDEX "strata_ix_1fb730f150d3" ON "posts" ("author", "id");
CREATE INDEX "posts_status_created_at_idx" ON "posts" ("status", "created_at");
