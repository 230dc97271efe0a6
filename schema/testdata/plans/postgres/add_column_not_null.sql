-- up
ALTER TABLE "posts" ADD COLUMN "slug" character varying(80) COLLATE "C" NOT NULL;
-- down
ALTER TABLE "posts" DROP COLUMN "slug";
