-- up
ALTER TABLE "posts" ADD COLUMN "published" boolean NOT NULL DEFAULT FALSE;
-- down
ALTER TABLE "posts" DROP COLUMN "published";
