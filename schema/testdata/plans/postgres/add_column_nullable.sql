-- up
ALTER TABLE "posts" ADD COLUMN "subtitle" character varying(120) COLLATE "C";
-- down
ALTER TABLE "posts" DROP COLUMN "subtitle";
